// Shared helpers for townhall pages: API calls, time formatting, state badges.
"use strict";
const th = {
  async api(path, opts = {}) {
    const res = await fetch(path, { cache: "no-store", ...opts });
    let body = null;
    try { body = await res.json(); } catch (_) { body = null; }
    if (!res.ok) {
      const err = new Error((body && body.detail) || `HTTP ${res.status}`);
      err.status = res.status;
      throw err;
    }
    return body;
  },
  countdown(iso, serverOffsetMs) {
    const ms = Date.parse(iso) - (Date.now() + serverOffsetMs);
    if (ms <= 0) return "now";
    const s = Math.floor(ms / 1000), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    const pad = (n) => String(n).padStart(2, "0");
    return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
  },
  setBadge(el, state) {
    el.textContent = state;
    el.className = "badge " + state;
  },
  esc(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;",
      '"': "&quot;", "'": "&#39;" }[c]));
  },
};
