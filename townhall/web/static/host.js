// The host's page: ON AIR state, program level, listeners over time, the requests queue and
// the stage with its controls, going live from the browser (WHIP), the ingest URL and ffmpeg
// line to copy, host-key rotation with a takeover warning (when the server reports the
// source), and End with a confirmation. The key comes in the URL's #key= and is kept in
// sessionStorage, out of the address bar and history.
/* global th, thWhip */
import { icon } from "./icons.js";
import { renderStage } from "./stage.js";
import { copyText, toast } from "./share.js";

const spaceId = location.pathname.split("/")[2];
const $ = (id) => document.getElementById(id);
const slot = "townhall-key-" + spaceId;
const fromHash = new URLSearchParams(location.hash.slice(1)).get("key");
if (fromHash) {
  sessionStorage.setItem(slot, fromHash);
  history.replaceState(null, "", location.pathname);  // keep the key out of history
}
const key = () => sessionStorage.getItem(slot);
const auth = () => ({ Authorization: "Bearer " + key() });
const api = `/api/spaces/${encodeURIComponent(spaceId)}`;
let doc = null;
let stage = null;
let live = null;
let lastState = null;
const samples = [];

function showError(msg) { $("error").textContent = msg; $("error").hidden = !msg; }
function announce(text) {
  $("announce").textContent = "";
  setTimeout(() => { $("announce").textContent = text; }, 50);
}
async function copy(text, what) { toast($("toast"), (await copyText(text)) ? `${what} copied` : `Copy: ${text}`); }

// --- details, ON AIR, listeners chart ---
// the server keeps a row every 10 s for the whole space (/api/spaces/ID/analytics): the chart
// shows those, then the newest count; before the first row, what this page sampled itself
let kept = null;  // the server's analytics (not `history`: that is the window's)
async function loadHistory() {
  if (!key()) return;
  try {
    const res = await fetch(`${api}/analytics`, { headers: auth(), cache: "no-store" });
    if (res.ok) { kept = await res.json(); renderChart(); }
  } catch (_) { /* the page's own samples still show */ }
}
function renderChart() {
  const svg = $("chart");
  const rows = kept && kept.samples.length ? kept.samples.map((r) => r.listeners) : null;
  const shown = rows ? [...rows, ...samples.slice(-1)] : samples;
  if (!shown.length) return;
  const max = Math.max(1, ...shown);
  const series = shown.length > 1 ? shown : [shown[0], shown[0]];
  const step = 300 / (series.length - 1);
  const pts = series.map((n, i) => `${(i * step).toFixed(1)},${(62 - (n / max) * 58).toFixed(1)}`);
  svg.innerHTML = `<polyline points="0,64 ${pts.join(" ")} 300,64" fill="rgba(194,65,12,.15)" stroke="none"/>` +
    `<polyline points="${pts.join(" ")}" fill="none" stroke="#c2410c" stroke-width="2" vector-effect="non-scaling-stroke"/>`;
  const now = shown[shown.length - 1];
  svg.setAttribute("aria-label", `Listeners over time: now ${now}, highest ${max}`);
  if (rows) {
    const t = kept.summary;
    const med = t.median_listening_s;  // from tickets and renewals, or listener keys
    const median = med == null ? "" :
      `, median listening ${med >= 60 ? `${Math.round(med / 60)} min` : `${Math.round(med)} s`}`;
    $("chart-note").textContent = `Now ${now.toLocaleString()}, highest ${t.peak_listeners.toLocaleString()}; ` +
      `${t.unique_listeners.toLocaleString()} listeners in all, ${t.listening_hours.toFixed(1)} listening hours${median} ` +
      `(the whole space, every ${t.every_s} s; CSV at ${api}/analytics?format=csv with the host key).`;
    return;
  }
  $("chart-note").textContent = `Now ${now.toLocaleString()}, highest ${Math.max(...samples).toLocaleString()} ` +
    "since this page opened (sampled every 2 s).";
}

function renderSource(d) {
  // issue 9's contract: `source` appears once the server reports takeovers
  const src = d.source;
  $("takeover").hidden = !src;
  if (!src) return;
  $("source-text").textContent = src.connected ? "A source is connected to the ingest URL." : "No source is connected.";
  const warn = src.takeovers > 0;
  $("takeover-warning").hidden = !warn;
  if (warn) {
    $("takeover-warning").innerHTML = icon("warning") + " " + th.esc(
      `Another source took over the ingest ${src.takeovers} time${src.takeovers > 1 ? "s" : ""}` +
      (src.last_takeover ? `, last at ${new Date(src.last_takeover).toLocaleTimeString()}` : "") +
      ". If that was not you, rotate the host key: the old key stops working.");
  }
}

async function refresh() {
  if (!key()) { $("need-key").hidden = false; return; }
  try {
    doc = await th.api(`${api}/host`, { headers: auth() });
    $("need-key").hidden = true;
    $("panel").hidden = false;
    showError("");
    $("title").textContent = doc.title;
    document.title = `Host: ${doc.title} — townhall`;
    th.setBadge($("state"), doc.state);
    const onAir = doc.state === "live" && doc.on_air;
    $("onair").textContent = onAir ? "ON AIR" : (doc.state === "ended" ? "ENDED" : "OFF AIR");
    $("onair").classList.toggle("off", !onAir);
    if (lastState && lastState !== doc.state) announce(`The space is ${doc.state}.`);
    lastState = doc.state;
    $("listeners").textContent = doc.listeners.now.toLocaleString();
    $("peak").textContent = doc.listeners.peak.toLocaleString();
    samples.push(doc.listeners.now);
    if (samples.length > 150) samples.shift();
    renderChart();
    $("ingest").textContent = doc.ingest_url;
    $("ffmpeg").textContent = doc.ffmpeg_command;
    $("page").href = doc.page_url;
    $("page").textContent = doc.page_url;
    renderSource(doc);
    const ended = doc.state === "ended";
    $("end").disabled = ended;
    $("ended").hidden = !ended;
    if (doc.replay_url) $("replay").href = doc.page_url;
  } catch (err) {
    if (err.status === 401) {
      $("need-key").hidden = false;
      $("panel").hidden = true;
      showError(key() ? "That host key is not valid for this space." : "");
      return;
    }
    showError("Connection problem: " + err.message + " (retrying)");
  }
}

// --- program level meter (2 reads a second while live; backs off when refused) ---
async function meter() {
  let next = 500;
  if (doc && doc.state === "live" && !document.hidden) {
    try {
      const m = await th.api(`${api}/host/level`, { headers: auth() });
      const db = Math.max(-60, Math.min(0, m.level_dbfs));
      $("meter").firstElementChild.style.width = `${((db + 60) / 60) * 100}%`;
      $("meter").setAttribute("aria-valuenow", String(Math.round(db)));
      $("meter-text").textContent = m.level_dbfs <= -60 ? "silent" : `${m.level_dbfs.toFixed(0)} dBFS`;
    } catch (_) { next = 3000; /* shed, or an older server without a meter: wait */ }
  }
  setTimeout(meter, next);
}

// --- the stage and the requests queue ---
const tool = (id, action, label, cls = "secondary") =>
  `<button type="button" class="${cls} small" data-id="${th.esc(id)}" data-action="${action}">${label}</button>`;

function renderSeats() {
  $("go-live").hidden = live !== null;
  $("mute-self").hidden = live === null;
  $("leave").hidden = live === null;
  if (!stage) return;
  const me = stage.seats.find((s) => s.role === "host");
  $("mute-self").textContent = me && me.muted ? "Unmute" : "Mute";
  $("stage-live").textContent = stage.live;
  $("stage-cap").textContent = stage.speaker_cap;
  const raised = stage.seats.filter((s) => s.state === "raised");
  $("requests-count").textContent = String(raised.length);
  const before = $("requests").dataset.ids ?? "-";
  const ids = raised.map((s) => s.id).join(",");
  if (before !== ids) {
    $("requests").dataset.ids = ids;
    if (raised.length > before.split(",").filter(Boolean).length) announce(`${raised[raised.length - 1].name} asks to speak.`);
    $("requests").innerHTML = raised.length ? raised.map((s) =>
      `<li data-seat="${th.esc(s.id)}"><b class="grow">${th.esc(s.name)}</b>` +
      tool(s.id, "approve", "Approve", "") + tool(s.id, "lower", "Deny") + "</li>").join("")
      : '<li class="muted">No one is asking to speak.</li>';
  }
  renderStage($("seats"), stage.seats.filter((s) => s.state !== "raised"), {
    showState: true,
    tools: (s) => {
      if (s.role === "host") return "";
      const t = [tool(s.id, s.muted ? "unmute" : "mute", s.muted ? "Unmute" : "Mute")];
      if (s.role === "speaker") t.push(tool(s.id, "cohost", "Make co-host"));
      if (s.state === "invited" && s.speak_url) t.push(tool(s.id, "copy", "Copy link"));
      t.push(tool(s.id, "remove", "Remove"));
      return t.join("");
    },
  });
}

async function refreshStage() {
  if (!key()) return;
  try {
    stage = await th.api(`${api}/speakers`, { headers: auth() });
    const speaking = new Set((doc && doc.speaking) || []);
    for (const s of stage.seats) s.speaking = s.speaking || speaking.has(s.id);
  } catch (err) { if (err.status !== 401) showError(err.message); }
  renderSeats();
}

async function act(seatId, action) {
  const path = `${api}/speakers/${encodeURIComponent(seatId)}`;
  if (action === "remove") await th.api(path, { method: "DELETE", headers: auth() });
  else await th.api(`${path}/${action}`, { method: "POST", headers: auth() });
}

async function onTool(ev) {
  const btn = ev.target.closest("button[data-action]");
  if (!btn) return;
  const seat = stage.seats.find((s) => s.id === btn.dataset.id);
  try {
    if (btn.dataset.action === "copy") {
      $("invite-url").textContent = seat.speak_url;
      $("invite-link").hidden = false;
      await copy(seat.speak_url, "Speaker link");
    } else if (btn.dataset.action === "remove" && !confirm(`Remove ${seat.name} from the stage?`)) {
      return;
    } else {
      await act(btn.dataset.id, btn.dataset.action);
    }
    showError("");
  } catch (err) { showError(err.message); }
  refreshStage();
}
$("seats").addEventListener("click", onTool);
$("requests").addEventListener("click", onTool);

$("invite").addEventListener("click", async () => {
  const name = $("invite-name").value.trim();
  if (!name) { showError("Give the speaker's name."); $("invite-name").focus(); return; }
  try {
    const seat = await th.api(`${api}/speakers`, {
      method: "POST", headers: { ...auth(), "Content-Type": "application/json" },
      body: JSON.stringify({ name, role: $("invite-role").value }) });
    $("invite-url").textContent = seat.speak_url;
    $("invite-link").hidden = false;
    $("invite-name").value = "";
    showError("");
  } catch (err) { showError(err.message); }
  refreshStage();
});

thWhip.bindGoLive($("go-live"), {
  current: () => live,
  target: async () => {
    if (!stage) await refreshStage();
    return { url: stage.whip_url, token: key(), iceServers: stage.ice_servers };
  },
  onLive: (l) => { live = l; renderSeats(); },
  onError: showError,
  onState: (state) => { $("conn").textContent = state; },
  after: refreshStage,
});
$("mute-self").addEventListener("click", async () => {
  const me = stage && stage.seats.find((s) => s.role === "host");
  const action = me && me.muted ? "unmute" : "mute";
  try {
    await act("host", action);
    if (live) live.setMuted(action === "mute");
  } catch (err) { showError(err.message); }
  refreshStage();
});
$("leave").addEventListener("click", async () => {
  if (live) await live.stop();
  live = null;
  window.thLive = null;
  refreshStage();
});

// --- copy, rotate, end ---
$("copy-page").addEventListener("click", () => doc && copy(doc.page_url, "Listener link"));
$("copy-ingest").addEventListener("click", () => doc && copy(doc.ingest_url, "Ingest URL"));
$("copy-ffmpeg").addEventListener("click", () => doc && copy(doc.ffmpeg_command, "ffmpeg line"));
$("copy-invite").addEventListener("click", () => copy($("invite-url").textContent, "Speaker link"));
$("rotate").addEventListener("click", async () => {
  if (!confirm("Rotate the host key? The current key, ingest URL and host link stop working.")) return;
  try {
    // rotating needs the owner's API key (the host key in every ingest URL must not be able
    // to take the space from its owner): the one the home page keeps, or asked for here
    let owner = localStorage.getItem("townhall.apiKey");
    if (!owner) owner = (prompt("Rotating needs the API key that created this space:") || "").trim();
    if (!owner) return;
    const out = await th.api(`${api}/rotate-key`,
      { method: "POST", headers: { Authorization: `Bearer ${owner}` } });
    sessionStorage.setItem(slot, out.host_key);
    toast($("toast"), "New host key in use: update your encoder with the new ingest URL");
    announce("The host key was rotated.");
  } catch (err) { showError(err.status === 404 ? "This server cannot rotate keys yet." : err.message); }
  refresh();
});
$("end").addEventListener("click", async () => {
  if (!confirm("End this space for everyone? The replay will be published.")) return;
  try {
    await th.api(`${api}/end`, { method: "POST", headers: auth() });
  } catch (err) { showError(err.message); }
  refresh();
});
// --- captions: the host's switch over the operator's default (docs/captions.md) ---
function renderCaptions(c) {
  $("captions").checked = c.enabled;
  $("captions-note").textContent = !c.available && c.reason
    ? "Captions are not available on this server: " + c.reason
    : (c.captioned ? "Listeners can turn captions on in their player." : "");
}
async function loadCaptions() {
  try { renderCaptions(await th.api(`${api}/captions`)); } catch (err) { /* older server */ }
}
$("captions").addEventListener("change", async () => {
  try {
    renderCaptions(await th.api(`${api}/captions`, {
      method: "PUT", headers: { ...auth(), "Content-Type": "application/json" },
      body: JSON.stringify({ enabled: $("captions").checked }) }));
    announce($("captions").checked ? "Captions on." : "Captions off.");
  } catch (err) { showError(err.message); loadCaptions(); }
});
$("use-key").addEventListener("click", () => {
  sessionStorage.setItem(slot, $("key").value.trim());
  refresh();
});

refresh();
refreshStage();
meter();
loadCaptions();
setInterval(() => { if (key()) refresh(); }, 2000);
setInterval(loadHistory, 10000);  // the server adds a row every 10 s
loadHistory();
setInterval(refreshStage, 1000);
sessionStorage.removeItem("th.reloads");  // started: the scripts all arrived
