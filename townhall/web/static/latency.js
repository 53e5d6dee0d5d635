// How far behind live a listener plays: the page's one place for latency.
// - joinAtLiveEdge: hls.js picks its start position when the playlist arrives, and the time
//   it then spends fetching and starting adds to the latency for good (measured 0.35 s
//   behind an nginx edge). Once playing, skip forward once to the hold-back position as soon
//   as the buffer holds it: the listener then sits at PART-HOLD-BACK from live.
// Never changes the hold-back itself, and never seeks outside what is buffered.
"use strict";
(function () {
  const SLACK_S = 0.1;  // closer than this to the target: leave it
  const WINDOW_MS = 15000;  // only while starting: later jumps would be heard as skips

  function buffers(audio, t) {
    for (let i = 0; i < audio.buffered.length; i++) {
      if (audio.buffered.start(i) <= t && t < audio.buffered.end(i) - 0.05) return true;
    }
    return false;
  }

  function joinAtLiveEdge(hls, audio) {
    const started = Date.now();
    let done = false;
    const check = () => {
      if (done || Date.now() - started > WINDOW_MS) { done = true; return; }
      if (audio.paused || audio.readyState < 3) return;
      const target = hls.liveSyncPosition, latency = hls.latency, want = hls.targetLatency;
      if (target === null || !latency || want === null) return;
      if (latency - want <= SLACK_S || target <= audio.currentTime) { done = true; return; }
      // not buffered yet: ask again at the next fragment (deciding once at the first one left
      // a third of the joins a part or more further back: 1.05 s from live against 0.8-0.9)
      if (!buffers(audio, target)) return;
      done = true;
      audio.currentTime = target;
    };
    hls.on(Hls.Events.FRAG_BUFFERED, check);
    audio.addEventListener("playing", check);
  }

  window.thLatency = { joinAtLiveEdge };
})();
