// The latency tier a joining page plays: the details announce it ("latency_tier": "low" or
// "standard", and "tier_playlist": master.m3u8 or standard.m3u8). A page that is already
// playing keeps its tier through ticket renewals: switching a playing player would be heard
// (standard plays seconds further back). Never fetches anything itself.
"use strict";
(function () {
  const nameOf = (url) => url.split("?")[0].split("/").pop();

  function playlistFor(url, doc, playing) {
    const name = playing ? nameOf(playing) : (doc && doc.tier_playlist) || nameOf(url);
    return /^[a-z]+\.m3u8$/.test(name) ? url.replace(/[^/]*$/, name) : url;
  }

  window.thTier = { playlistFor };
})();
