// Receipts of what was live: while a space is live, keep the signed checkpoints the origin
// publishes (/record/ID/checkpoints/latest.json, cached at the edge for a second) in
// localStorage, so that this listener can later prove the replay is what they heard
// (`townhall verify REPLAY --checkpoint FILE`, or the replay page's verification).
// Small: about 400 bytes each, one kept every 10 s, at most 360 per space (the first, then
// evenly thinned). space.js calls thCheckpoints.seen(details) after each details poll.
"use strict";
(function () {
  const EVERY_MS = 10000;
  const MAX_KEPT = 360;
  const lastFetch = {};
  const key = (spaceId) => "townhall.checkpoints." + spaceId;

  function list(spaceId) {
    try { return JSON.parse(localStorage.getItem(key(spaceId)) || "[]"); } catch (e) { return []; }
  }

  function keep(spaceId, doc) {
    const kept = list(spaceId);
    const msn = JSON.parse(doc.payload).msn;
    if (kept.some((d) => JSON.parse(d.payload).msn === msn)) return;
    kept.push(doc);
    while (kept.length > MAX_KEPT) kept.splice(1 + Math.floor(Math.random() * (kept.length - 2)), 1);
    try { localStorage.setItem(key(spaceId), JSON.stringify(kept)); } catch (e) { /* full */ }
  }

  async function seen(details) {
    if (!details || details.state !== "live" || !details.on_air) return;
    const now = Date.now();
    if (now - (lastFetch[details.id] || 0) < EVERY_MS) return;
    lastFetch[details.id] = now;
    try {
      const res = await fetch("/record/" + encodeURIComponent(details.id) +
                              "/checkpoints/latest.json");
      if (res.ok) keep(details.id, await res.json());
    } catch (e) { /* a receipt missed is not an error for the listener */ }
  }

  window.thCheckpoints = { seen, list, keep };
})();
