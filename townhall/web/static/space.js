// The listener's page: details with countdown and "Remind me", a seat or a place in line,
// the stage with speaking rings, LIVE with "behind live" and jump-to-live, reactions, asking
// to speak, sharing, and the replay after the end. Never shows "unavailable": when the
// origin is busy or away it keeps what it knows and says "reconnecting".
import { icon } from "./icons.js";
import { createPlayer } from "./player.js";
import { renderStage } from "./stage.js";
import { setupReactions } from "./reactions.js";
import { share, remindMe, toast } from "./share.js";
import { setupSpeak } from "./speak.js";
import { setupReplay } from "./replay.js";

const spaceId = location.pathname.split("/")[2];
const $ = (id) => document.getElementById(id);
const audio = $("audio");
const page = { offset: 0, failures: 0, freshAt: 0, stale: false, lastState: null };

function announce(text) {
  $("announce").textContent = "";
  setTimeout(() => { $("announce").textContent = text; }, 50);
}
function showError(msg) { $("error").textContent = msg; $("error").hidden = !msg; }

// icons and labels shipped with the page
$("listeners-icon").innerHTML = icon("people");
$("remind").innerHTML = icon("calendar") + "<span>Remind me</span>";
$("share").innerHTML = icon("share") + "<span>Share</span>";
$("share-before").innerHTML = $("share").innerHTML;
$("request").innerHTML = icon("hand") + "<span>Request to speak</span>";
$("share-time").innerHTML = icon("link") + "<span>Share this moment</span>";
$("download-link").innerHTML = icon("download") + "<span>Download</span>";
$("vol-icon").innerHTML = icon("volume");
$("leave").innerHTML = icon("leave") + "<span>Leave the stage</span>";

const player = createPlayer(audio, spaceId, {
  connection: (text) => { $("conn").textContent = text; },
  error: showError,
  autoplay: (ok) => { $("listen-wrap").hidden = ok; },
  waiting: (data, first) => {
    $("queue").hidden = false;
    $("position").textContent = data.position.toLocaleString();
    $("eta").textContent = data.eta_s ? `about ${Math.max(1, Math.ceil(data.eta_s / 60))} min`
      : (data.position === 1 ? "you are next" : "not known yet");
    // honest progress: how far you moved from where you joined the line, nothing invented
    const moved = first > 1 ? (first - data.position) / (first - 1) : 0;
    $("queue-progress").value = Math.max(0, Math.min(1, moved));
  },
  captionsAvailable: (available) => {
    $("cc").hidden = !available;
    if (available && localStorage.getItem("th.captions") === "on") setCaptions(true);
  },
  caption: (text) => {
    const box = $("captions");
    if (box.textContent !== text) box.textContent = text;
  },
  admitted: () => { $("queue").hidden = true; announce("It is your turn: you are listening now."); },
  verifying: (p) => {
    $("verifying").hidden = p === null;
    if (p !== null) {
      $("verify-progress").value = p;
      // a proof of work has no fixed length: say how much of the expected work is done
      $("verify-text").textContent = p >= 1 ? "Done — joining…"
        : `About ${Math.round(p * 100)} % of the expected work done`;
    }
  },
});
window.townhall = player.state;  // for debugging and the browser tests

function setCaptions(on) {
  player.setCaptions(on);
  $("cc").setAttribute("aria-pressed", String(on));
  $("captions").hidden = !on;
  localStorage.setItem("th.captions", on ? "on" : "off");
}
$("cc").addEventListener("click", () => setCaptions(!player.state.captions));

const updateReactions = setupReactions($("reactions"), $("sky"), $("reaction-totals"), spaceId);
const replay = setupReplay(player, audio, {
  seek: $("seek"), time: $("time"), duration: $("duration"), play: $("replay-link"),
  shareTime: $("share-time"), download: $("download-link"), toast: $("toast"),
  verification: $("verification"), spaceId,
});
const speak = setupSpeak(spaceId, {
  request: $("request"), waiting: $("waiting-hand"), withdraw: $("withdraw"),
  join: $("join-stage"), onstage: $("onstage"), mute: $("mute-self"),
  leave: $("leave"), status: $("speak-status"), dialog: $("speak-dialog"), form: $("speak-form"),
  name: $("speak-name"), formError: $("speak-error"), cancel: $("speak-cancel"),
}, {
  announce, programAudio: audio,
});

// --- the player bar: play/pause, LIVE or behind live, jump to live, volume ---
function renderPlayPause() {
  const paused = audio.paused;
  $("playpause").innerHTML = icon(paused ? "play" : "pause");
  $("playpause").setAttribute("aria-label", paused ? "Play" : "Pause");
}
audio.addEventListener("play", renderPlayPause);
audio.addEventListener("pause", renderPlayPause);
renderPlayPause();
$("playpause").addEventListener("click", () => {
  if (audio.paused) audio.play().catch(() => {}); else audio.pause();
});
$("listen").addEventListener("click", () => { audio.play(); $("listen-wrap").hidden = true; });
$("jump").addEventListener("click", () => { player.jumpToLive(); announce("Back to live."); });
const savedVolume = Number(localStorage.getItem("townhall.volume"));
if (savedVolume >= 0 && localStorage.getItem("townhall.volume") !== null) audio.volume = savedVolume;
$("volume").value = String(audio.volume);
$("volume").addEventListener("input", () => {
  audio.volume = Number($("volume").value);
  localStorage.setItem("townhall.volume", String(audio.volume));
  $("vol-icon").innerHTML = icon(audio.volume === 0 ? "mute" : "volume");
});

function renderBehind() {
  const doc = player.state.doc;
  if (!doc || doc.state !== "live") return;
  const behind = player.behindLive();
  const target = player.state.hls ? (player.state.hls.targetLatency || 3) : 3;
  // within a couple of seconds of the target latency counts as live
  const late = behind !== null && (audio.paused || behind > target + 3);
  $("live-ind").classList.toggle("behind", late);
  $("live-text").textContent = late && behind !== null ? `${Math.round(behind)} s behind live` : "LIVE";
  $("jump").hidden = !late;
}
setInterval(renderBehind, 500);

// --- actions ---
function onShare() {
  const doc = player.state.doc;
  share({ title: doc ? doc.title : document.title, url: doc ? doc.page_url : location.href }, $("toast"));
}
$("share").addEventListener("click", onShare);
$("share-before").addEventListener("click", onShare);
$("remind").addEventListener("click", () => {
  if (player.state.doc) remindMe(player.state.doc);
  toast($("toast"), "Calendar file downloaded");
});

// --- details ---
const STATE_NEWS = {
  live: "The space is live.", delayed: "The space is running late; waiting for the host.",
  ended: "The space has ended.",
};

function render(doc) {
  document.title = doc.title + " — townhall";
  $("title").textContent = doc.title;
  $("host").textContent = doc.host;
  th.setBadge($("state"), doc.state);
  $("listeners").textContent = doc.listeners.now.toLocaleString();
  $("peak").textContent = doc.listeners.peak.toLocaleString();
  if (page.lastState && page.lastState !== doc.state && STATE_NEWS[doc.state]) {
    announce(STATE_NEWS[doc.state] + (doc.state === "ended" && doc.replay_url ? " The replay is ready." : ""));
  }
  page.lastState = doc.state;

  const before = doc.state === "scheduled" || doc.state === "delayed";
  const live = doc.state === "live";
  const ended = doc.state === "ended";
  let when = "";
  if (doc.state === "scheduled" && doc.scheduled_start) {
    when = "Starts in " + th.countdown(doc.scheduled_start, page.offset);
  } else if (doc.state === "scheduled") {
    when = "Waiting for the host to go live.";
  } else if (doc.state === "delayed") {
    when = "Running late — waiting for the host. Stay on this page; audio starts by itself.";
  } else if (live) {
    when = "Live since " + new Date(doc.actual_start).toLocaleTimeString();
  } else if (ended) {
    when = "Ended " + new Date(doc.ended_at).toLocaleString();
  }
  $("when").textContent = when;

  $("before").hidden = !before;
  if (before) {
    const counting = doc.state === "scheduled" && doc.scheduled_start;
    $("countdown").textContent = counting ? th.countdown(doc.scheduled_start, page.offset)
      : (doc.state === "delayed" ? "Any minute now" : "Soon");
    $("remind").hidden = !doc.scheduled_start || doc.state !== "scheduled";
  }

  $("stage-card").hidden = !(live || before);
  renderStage($("stage"), doc.speakers.length || !live ? doc.speakers
    : [{ id: "host", name: doc.host, role: "host", state: "live", muted: false,
         speaking: false }],
  { empty: before ? `${doc.host} will open the stage at the start.` : "Nobody is on stage." });
  updateReactions(doc.reactions, doc.server_time);

  // while in line or proving the browser, there is nothing to play yet
  const admitted = Boolean(player.state.ticket) && !player.state.waiting;
  $("player").hidden = !((live && admitted) || (ended && doc.replay_url));
  $("live-ind").hidden = !live;
  $("jump").hidden = $("jump").hidden || !live;
  $("playpause").hidden = !live;
  $("actions").hidden = before || ended;  // the replay has its own share and download
  $("reactions").hidden = !live || !admitted;
  if (live) speak.start(); else speak.stop();
  if (!live) { $("request").hidden = true; $("waiting-hand").hidden = true; }

  if (live && doc.on_air && !player.state.ticket && !player.state.joining) {
    player.join();
  } else if (ended) {
    $("queue").hidden = true;
    $("verifying").hidden = true;
    replay.show(doc);
  }
}

async function poll() {
  try {
    const doc = await th.api("/api/spaces/" + encodeURIComponent(spaceId));
    const prev = player.state.doc;
    if (!prev || doc.server_time !== prev.server_time) page.freshAt = Date.now();
    if (page.offset === 0) page.offset = Date.parse(doc.server_time) - Date.now();
    player.state.doc = doc;
    if (window.thCheckpoints) window.thCheckpoints.seen(doc);  // receipts (checkpoints.js)
    page.failures = 0;
    // an edge may keep answering from cache while the origin is away: say so, calmly
    page.stale = Date.now() - (page.freshAt || Date.now()) > 10000;
    $("conn").textContent = page.stale ? "reconnecting…" : "";
    if (page.stale) th.setBadge($("state"), "reconnecting");
    showError("");
    if (!page.stale) render(doc);
  } catch (err) {
    if (err.status === 404) { showError("This space does not exist."); $("title").textContent = "Not found"; return; }
    page.failures += 1;
    // the origin is busy or away: keep what we know and say so, never "unavailable"
    $("conn").textContent = "reconnecting…";
    if (player.state.doc) th.setBadge($("state"), "reconnecting");
  }
  setTimeout(poll, page.failures ? Math.min(10000, 1000 * 2 ** page.failures) : 2000);
}
setInterval(() => {
  if (player.state.doc && !page.failures && !page.stale) render(player.state.doc);
}, 1000);
poll();
sessionStorage.removeItem("th.reloads");  // started: the scripts all arrived
