// The listener's page: details with countdown, live LL-HLS playback, replay after the end.
"use strict";
(function () {
  const spaceId = location.pathname.split("/")[2];
  const $ = (id) => document.getElementById(id);
  const audio = $("audio");
  const sid = Math.random().toString(36).slice(2, 12) + Date.now().toString(36);
  const state = { doc: null, offset: 0, playing: null, hls: null, errors: [], failures: 0 };
  window.townhall = state;  // for debugging and the browser tests

  function showError(msg) { $("error").textContent = msg; $("error").hidden = !msg; }

  function play(url) {
    if (state.playing === url) return;
    state.playing = url;
    if (state.hls) { state.hls.destroy(); state.hls = null; }
    if (window.Hls && Hls.isSupported()) {
      const hls = new Hls({ lowLatencyMode: true, backBufferLength: 30 });
      hls.on(Hls.Events.ERROR, (_, data) => {
        state.errors.push({ type: data.type, details: data.details, fatal: data.fatal });
        if (data.fatal) {
          if (data.type === Hls.ErrorTypes.NETWORK_ERROR) hls.startLoad();
          else if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
        }
      });
      hls.loadSource(url);
      hls.attachMedia(audio);
      state.hls = hls;
    } else if (audio.canPlayType("application/vnd.apple.mpegurl")) {
      audio.src = url;  // Safari and iOS play LL-HLS natively
    } else {
      showError("This browser cannot play HLS audio.");
      return;
    }
    audio.play().then(() => { $("listen").hidden = true; })
      .catch(() => { $("listen").hidden = false; });  // autoplay refused: ask for a tap
  }
  $("listen").addEventListener("click", () => { audio.play(); $("listen").hidden = true; });

  function render(doc) {
    document.title = doc.title + " — townhall";
    $("title").textContent = doc.title;
    $("host").textContent = doc.host;
    th.setBadge($("state"), doc.state);
    $("listeners").textContent = doc.listeners.now.toLocaleString();
    $("peak").textContent = doc.listeners.peak.toLocaleString();
    let when = "";
    if (doc.state === "scheduled" && doc.scheduled_start) {
      when = "Starts in " + th.countdown(doc.scheduled_start, state.offset);
    } else if (doc.state === "scheduled") {
      when = "Waiting for the host to go live.";
    } else if (doc.state === "delayed") {
      when = "Running late — waiting for the host. Stay on this page; audio starts by itself.";
    } else if (doc.state === "live") {
      when = "Live since " + new Date(doc.actual_start).toLocaleTimeString();
    } else if (doc.state === "ended") {
      when = "Ended " + new Date(doc.ended_at).toLocaleString();
    }
    $("when").textContent = when;
    if (doc.state === "live" && doc.on_air) {
      play(doc.playlist_url + "?sid=" + sid);
    } else if (doc.state === "ended" && doc.replay_url) {
      $("replay").hidden = false;
      $("replay-link").href = "#replay";
      $("download-link").href = doc.replay_download_url;
    }
  }
  $("replay-link").addEventListener("click", (e) => {
    e.preventDefault();
    if (state.doc && state.doc.replay_url) play(state.doc.replay_url);
  });

  async function poll() {
    try {
      const doc = await th.api("/api/spaces/" + encodeURIComponent(spaceId));
      state.offset = Date.parse(doc.server_time) - Date.now();
      state.doc = doc;
      state.failures = 0;
      $("conn").textContent = "";
      showError("");
      render(doc);
    } catch (err) {
      if (err.status === 404) { showError("This space does not exist."); return; }
      state.failures += 1;
      // the origin is busy or away: keep what we know and say so, never "unavailable"
      $("conn").textContent = "reconnecting…";
      if (state.doc) th.setBadge($("state"), "reconnecting");
    }
    setTimeout(poll, state.failures ? Math.min(10000, 1000 * 2 ** state.failures) : 2000);
  }
  setInterval(() => { if (state.doc) render(state.doc); }, 1000);
  poll();
})();
