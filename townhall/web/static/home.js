// The home page: spaces live now, upcoming and past, each with its state and counts; and a
// form to create one. Hosting may need an API key (the security issue's contract): it is
// kept in localStorage `townhall.apiKey`, sent as Bearer on create, and asked for again on
// a 401.
/* global th */
import { icon } from "./icons.js";

const $ = (id) => document.getElementById(id);
const KEY = "townhall.apiKey";

function item(s) {
  const when = s.state === "scheduled" && s.scheduled_start
    ? `starts ${new Date(s.scheduled_start).toLocaleString([], { dateStyle: "medium", timeStyle: "short" })}`
    : s.state === "ended" && s.ended_at ? `ended ${new Date(s.ended_at).toLocaleDateString()}`
    : s.state === "live" ? `${s.listeners.now.toLocaleString()} listening · ${s.speakers.length} on stage`
    : s.state === "delayed" ? "running late" : "";
  const peak = s.state === "ended" ? ` · peak ${s.listeners.peak.toLocaleString()}` +
    (s.replay_url ? " · replay" : "") : "";
  return `<li><span class="badge ${th.esc(s.state)}">${th.esc(s.state)}</span>
    <a href="/spaces/${th.esc(s.id)}">${th.esc(s.title)}</a>
    <span class="muted small">${th.esc(s.host)} · ${th.esc(when)}${th.esc(peak)}</span></li>`;
}

async function load() {
  try {
    const { spaces } = await th.api("/api/spaces");
    const live = spaces.filter((s) => s.state === "live");
    const upcoming = spaces.filter((s) => s.state === "scheduled" || s.state === "delayed")
      .sort((a, b) => (a.scheduled_start || "~").localeCompare(b.scheduled_start || "~"));
    const past = spaces.filter((s) => s.state === "ended");
    $("live").innerHTML = live.map(item).join("") ||
      `<li class="muted">${icon("live")} Nothing is live right now.</li>`;
    $("upcoming").innerHTML = upcoming.map(item).join("") || '<li class="muted">Nothing scheduled.</li>';
    $("past").innerHTML = past.map(item).join("") || '<li class="muted">No past spaces yet.</li>';
  } catch (err) { /* keep the last list; try again */ }
}

function showError(msg) { $("error").textContent = msg; $("error").hidden = !msg; }
if (localStorage.getItem(KEY)) $("api-key").value = localStorage.getItem(KEY);

$("create").addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = { title: $("title").value, host: $("hostname").value };
  if ($("start").value) body.scheduled_start = new Date($("start").value).toISOString();
  if ($("cap").value) body.listener_cap = Number($("cap").value);
  const typed = $("api-key").value.trim();
  if (typed) localStorage.setItem(KEY, typed);
  const key = localStorage.getItem(KEY);
  const headers = { "Content-Type": "application/json" };
  if (key) headers.Authorization = "Bearer " + key;
  try {
    const doc = await th.api("/api/spaces", { method: "POST", headers, body: JSON.stringify(body) });
    $("host-link").href = doc.host_url;
    $("host-link").textContent = doc.host_url;
    $("created").hidden = false;
    showError("");
    load();
  } catch (err) {
    if (err.status === 401 || err.status === 403) {
      localStorage.removeItem(KEY);
      $("key-field").hidden = false;
      $("api-key").focus();
      showError(key ? "That API key was refused; check it and try again." : "Hosting here needs an API key.");
      return;
    }
    showError(err.message);
  }
});
load();
setInterval(load, 5000);
sessionStorage.removeItem("th.reloads");  // started: the scripts all arrived
