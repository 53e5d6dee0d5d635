// The replay: the recording played through the same player, a seekable timeline with the
// duration (read from the replay playlist before anything plays), share at a timestamp
// (`?t=` seconds, which this page also honours on load), download, and the verification
// slot that the verifiable-recording module fills (verify.js).
import { renderVerification } from "./verify.js";
import { copyText, toast } from "./share.js";

export function clock(s) {
  if (!Number.isFinite(s) || s < 0) return "--:--";
  s = Math.floor(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

async function playlistSeconds(url) {
  try {
    const text = await (await fetch(url, { cache: "no-store" })).text();
    let total = 0;
    for (const m of text.matchAll(/^#EXTINF:([\d.]+)/gm)) total += Number(m[1]);
    return total || null;
  } catch (_) { return null; }
}

export function setupReplay(player, audio, ui) {
  const startAt = Math.max(0, Number(new URLSearchParams(location.search).get("t")) || 0);
  let shown = false;
  let total = null;
  let dragging = false;

  function isReplay() { return (player.state.playing || "").includes("/replay/"); }
  function tick() {
    if (!isReplay()) return;
    const d = Number.isFinite(audio.duration) && audio.duration > 0 ? audio.duration : total;
    if (d) { ui.seek.max = String(d); ui.duration.textContent = clock(d); }
    if (!dragging) ui.seek.value = String(audio.currentTime);
    ui.time.textContent = clock(audio.currentTime);
    ui.seek.setAttribute("aria-valuetext", `${clock(audio.currentTime)} of ${clock(d)}`);
  }
  audio.addEventListener("timeupdate", tick);
  audio.addEventListener("durationchange", tick);

  function start(at) {
    const doc = player.state.doc;
    if (!doc || !doc.replay_url) return;
    if (isReplay()) { audio.currentTime = at; audio.play().catch(() => {}); return; }
    player.play(doc.replay_url, { live: false, startAt: at });
  }
  ui.play.addEventListener("click", () => {
    if (isReplay()) { if (audio.paused) audio.play().catch(() => {}); else audio.pause(); return; }
    start(Number(ui.seek.value) || startAt);
  });
  ui.seek.addEventListener("input", () => { dragging = true; ui.time.textContent = clock(Number(ui.seek.value)); });
  ui.seek.addEventListener("change", () => { dragging = false; start(Number(ui.seek.value)); });
  ui.shareTime.addEventListener("click", async () => {
    const t = Math.floor(isReplay() ? audio.currentTime : Number(ui.seek.value));
    const url = `${location.origin}${location.pathname}?t=${t}`;
    toast(ui.toast, (await copyText(url)) ? `Link to ${clock(t)} copied` : `Copy this link: ${url}`);
  });
  const label = () => { ui.play.textContent = isReplay() && !audio.paused ? "Pause" : "Play the replay"; };
  audio.addEventListener("play", label);
  audio.addEventListener("pause", label);

  return {
    async show(doc) {
      if (shown || !doc.replay_url) return;
      shown = true;
      ui.play.closest("#replay").hidden = false;
      // the replay's play button takes the live controls' place, beside the volume
      const row = document.querySelector(".player-row");
      if (row) row.prepend(ui.play);
      ui.download.href = doc.replay_download_url;
      ui.download.setAttribute("download", `${doc.title.replace(/[^\w -]+/g, "").trim() || "space"}.m4a`);
      ui.seek.value = String(startAt);
      ui.time.textContent = clock(startAt);
      renderVerification(ui.verification, ui.spaceId).catch(() => {});
      total = await playlistSeconds(doc.replay_url);
      if (total) { ui.seek.max = String(total); ui.duration.textContent = clock(total); }
      if (startAt) start(startAt);
    },
  };
}
