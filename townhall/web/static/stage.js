// The stage as a grid of seats: initials avatar, name, role, muted, and a ring that lights
// while the seat speaks (the details' `speaking` flags). Shared by the listener and host
// pages; `tools(seat)` adds a seat's controls (the host's approve, mute, remove). Renders by
// diffing on a key, so a ring lighting up never rebuilds the grid or steals keyboard focus.
import { icon } from "./icons.js";

const ROLE = { host: "Host", cohost: "Co-host", speaker: "Speaker", listener: "Requested" };
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;",
  ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

export function initials(name) {
  const words = String(name).trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? words[0][0] + words[words.length - 1][0] : (words[0] || "?").slice(0, 2);
  return letters.toUpperCase();
}

// a stable hue per name, so a speaker keeps their colour across pages
function hue(name) {
  let h = 0;
  for (const c of String(name)) h = (h * 31 + c.codePointAt(0)) % 360;
  return h;
}

function stateLabel(s, showState) {
  if (!s.state || s.role === "listener" || (!showState && s.state === "live")) return "";
  return " · " + (s.role === "host" && s.state === "invited" ? "off mic" : esc(s.state));
}

const ORDER = { host: 0, cohost: 1, speaker: 2, listener: 3 };

export function renderStage(el, seats, { tools = null, showState = false,
                                         empty = "Nobody is on stage yet." } = {}) {
  const sorted = [...seats].sort((a, b) => (ORDER[a.role] ?? 9) - (ORDER[b.role] ?? 9));
  const key = JSON.stringify(sorted.map((s) => [s.id, s.name, s.role, s.state, s.muted,
                                               tools ? tools(s) : ""]));
  if (el.dataset.key !== key) {
    el.dataset.key = key;
    el.innerHTML = sorted.length ? sorted.map((s) => `
      <li class="seat" data-seat="${esc(s.id)}" style="--hue:${hue(s.name)}">
        <span class="avatar" aria-hidden="true">${esc(initials(s.name))}</span>
        <span class="seat-name">${esc(s.name)}</span>
        <span class="seat-role">${ROLE[s.role] || esc(s.role)}${stateLabel(s, showState)}</span>
        ${s.muted ? `<span class="seat-muted" title="Muted">${icon("micOff", "muted")}</span>` : ""}
        <span class="seat-speaking visually-hidden"></span>
        ${tools ? `<span class="seat-tools">${tools(s)}</span>` : ""}
      </li>`).join("") : `<li class="seat-empty muted">${esc(empty)}</li>`;
  }
  // the ring: class changes only, no rebuild
  const speaking = new Set(sorted.filter((s) => s.speaking).map((s) => s.id));
  el.querySelectorAll("li.seat").forEach((li) => {
    const on = speaking.has(li.dataset.seat);
    li.classList.toggle("speaking", on);
    const sr = li.querySelector(".seat-speaking");
    if (sr) sr.textContent = on ? "speaking" : "";
  });
}
