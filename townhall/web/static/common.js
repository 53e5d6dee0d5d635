// Shared helpers for townhall pages: API calls, time formatting, state badges.
"use strict";
const th = {
  async api(path, opts = {}) {
    let res = await fetch(path, { cache: "no-store", ...opts });
    // a write the origin shed under load (503 + Retry-After) is sent again, a few times
    for (let i = 0; res.status === 503 && opts.method && opts.method !== "GET" && i < 4; i++) {
      const wait = Math.min(5, Number(res.headers.get("Retry-After")) || 1);
      await new Promise((r) => setTimeout(r, wait * 1000 * (0.8 + Math.random() * 0.4)));
      res = await fetch(path, { cache: "no-store", ...opts });
    }
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
