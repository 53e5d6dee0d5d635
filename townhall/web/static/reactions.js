// Reactions: a row of icon buttons that send to the API (taps batched once a second, as
// the API's `count` allows), and icons that float up over the stage for what everyone sent
// in the last second, with a running total per kind. Floating is skipped, not animated, when
// the person asked for reduced motion; the totals still change.
import { icon, reactionIcon, REACTIONS } from "./icons.js";

const MAX_FLOATING = 24;  // on screen at once: a flood of reactions must not flood the page

export function setupReactions(bar, sky, totals, spaceId) {
  const pending = new Map();
  let timer = null;
  const reduce = window.matchMedia("(prefers-reduced-motion: reduce)");

  bar.innerHTML = REACTIONS.map(([emoji, name, label]) =>
    `<button type="button" class="react" data-emoji="${emoji}" aria-label="${label}" title="${label}">` +
    `${icon(name)}</button>`).join("");

  function flush() {
    timer = null;
    for (const [emoji, count] of pending) {
      fetch(`/api/spaces/${encodeURIComponent(spaceId)}/reactions`, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ emoji, count: Math.min(20, count) }) }).catch(() => {});
    }
    pending.clear();
  }

  function float(emoji) {
    if (reduce.matches || sky.childElementCount >= MAX_FLOATING) return;
    const el = document.createElement("span");
    el.className = "floater";
    el.innerHTML = reactionIcon(emoji).svg;
    el.style.left = `${10 + Math.random() * 80}%`;
    el.style.animationDuration = `${2.2 + Math.random()}s`;
    el.addEventListener("animationend", () => el.remove());
    sky.appendChild(el);
  }

  bar.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-emoji]");
    if (!b) return;
    pending.set(b.dataset.emoji, (pending.get(b.dataset.emoji) || 0) + 1);
    float(b.dataset.emoji);
    if (!timer) timer = setTimeout(flush, 1000);
  });

  let lastSecond = "";
  // called with the details' reactions: {last_second: {emoji: n}, total: {emoji: n}}
  // (a document read twice, from a poll and a cache, must not float its reactions twice)
  return function update(reactions, serverTime) {
    if (!reactions) return;
    const key = serverTime + JSON.stringify(reactions.last_second || {});
    if (key !== lastSecond) {
      lastSecond = key;
      for (const [emoji, n] of Object.entries(reactions.last_second || {})) {
        for (let i = 0; i < Math.min(n, 6); i++) setTimeout(() => float(emoji), i * 140);
      }
    }
    const entries = Object.entries(reactions.total || {}).sort((a, b) => b[1] - a[1]).slice(0, 6);
    totals.innerHTML = entries.map(([emoji, n]) => {
      const r = reactionIcon(emoji);
      return `<li title="${r.label}">${r.svg}<span>${n.toLocaleString()}</span>` +
        `<span class="visually-hidden"> ${r.label}</span></li>`;
    }).join("");
  };
}
