// The listener's page: details with countdown, a seat (ticket) or a waiting-room place,
// live LL-HLS playback, reactions, and the replay after the end. Never shows "unavailable":
// when the origin is busy or away it keeps what it knows and says "reconnecting".
"use strict";
(function () {
  const spaceId = location.pathname.split("/")[2];
  const $ = (id) => document.getElementById(id);
  const audio = $("audio");
  const state = { doc: null, offset: 0, playing: null, hls: null, errors: [], failures: 0,
                  ticket: null, joining: false, waiting: null, pow: null, noGrant: false };
  window.townhall = state;  // for debugging and the browser tests

  function showError(msg) { $("error").textContent = msg; $("error").hidden = !msg; }
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const jitter = (s) => (s * 1000) * (0.8 + Math.random() * 0.4);

  // --- playback ---
  function withTicket(url) {
    // every media URL carries the newest ticket, so renewals never interrupt playback
    return state.ticket ? url.replace(/\/t\/[^/]+\//, "/t/" + state.ticket + "/") : url;
  }
  function play(url) {
    if (state.playing === url) return;
    state.playing = url;
    if (state.hls) { state.hls.destroy(); state.hls = null; }
    if (window.Hls && Hls.isSupported()) {
      const hls = new Hls({
        lowLatencyMode: true, backBufferLength: 30,
        // wait for two whole segments: joining while the playlist holds only its first
        // segment makes hls.js 1.7 re-fetch that segment's last part in a loop (a 3-5 s
        // stall for everyone who was waiting for the space to start)
        initialLiveManifestSize: 2,
        xhrSetup: (xhr, u) => { xhr.open("GET", withTicket(u), true); },
      });
      hls.on(Hls.Events.ERROR, (_, data) => {
        state.errors.push({ type: data.type, details: data.details, fatal: data.fatal });
        if (data.fatal) {
          $("conn").textContent = "reconnecting…";
          if (data.type === Hls.ErrorTypes.NETWORK_ERROR) setTimeout(() => hls.startLoad(), 1000);
          else if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
        }
      });
      hls.loadSource(url);
      hls.attachMedia(audio);
      if (window.thLatency) thLatency.joinAtLiveEdge(hls, audio);
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

  // --- admission: ticket, waiting room, proof of work ---
  function solve(challenge, difficulty) {
    return new Promise((resolve, reject) => {
      const w = new Worker("/static/pow-worker.js");
      w.onmessage = (e) => { w.terminate(); e.data.solution ? resolve(e.data.solution) : reject(); };
      w.postMessage({ challenge, difficulty });
    });
  }
  async function joinOnce(body) {
    // a big open space's details carry a join grant: any origin admits with it, so the
    // crowd at the scheduled minute is spread over every origin; otherwise (a cap, attack
    // mode, a waiting place, a proof of work, or a grant refused) join at the space's origin
    const grant = state.doc && state.doc.join_grant;
    const viaGrant = Boolean(grant) && !state.noGrant && !body.token && !body.challenge;
    const id = encodeURIComponent(spaceId);
    const url = viaGrant ? `/api/admit/${id}` : `/api/spaces/${id}/join`;
    const payload = viaGrant ? (body.renew ? { grant, renew: body.renew } : { grant }) : body;
    const res = await fetch(url, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload), cache: "no-store" });
    let data = {};
    try { data = await res.json(); } catch (_) { data = {}; }
    if (viaGrant && [403, 404, 422].includes(res.status)) {
      state.noGrant = true;  // this grant will not do: ask the space's origin instead
      return { status: "again", data, retry: 0 };
    }
    return { status: res.status, data, retry: Number(res.headers.get("Retry-After") || 2) };
  }
  async function join(body = {}) {
    if (state.joining) return;
    state.joining = true;
    try {
      for (let attempt = 0; attempt < 1000; attempt++) {
        const { status, data, retry } = await joinOnce(body);
        if (status === "again") continue;
        if (status === 200) {
          state.noGrant = false;
          state.waiting = null;
          $("queue").hidden = true;
          state.ticket = data.ticket;
          play(window.thTier ? thTier.playlistFor(data.playlist_url, state.doc, state.playing)
            : data.playlist_url);
          setTimeout(() => join({ renew: state.ticket }), data.renew_after_s * 1000);
          return;
        }
        if (status === 202) {
          state.waiting = data;
          $("queue").hidden = false;
          $("position").textContent = data.position.toLocaleString();
          $("eta").textContent = data.eta_s ? `about ${Math.ceil(data.eta_s / 60)} min` : "unknown";
          body = { token: data.token };
          await sleep(jitter(data.poll_after_s));
          continue;
        }
        if (status === 428) {
          $("conn").textContent = "checking you are not a bot…";
          state.pow = { difficulty: data.difficulty };
          const solution = await solve(data.challenge, data.difficulty);
          $("conn").textContent = "";
          body = { ...body, challenge: data.challenge, solution };
          continue;
        }
        if (status === 409) { return; }  // ended: the details poll shows the replay
        if (status === 403 || status === 404) { body = {}; continue; }  // seat or place lost
        // 429 / 503 / network trouble: wait as told, never hammer
        await sleep(jitter(Math.min(30, retry * (1 + attempt / 4))));
      }
    } catch (err) {
      $("conn").textContent = "reconnecting…";
      setTimeout(() => { state.joining = false; join(body); }, jitter(3));
      return;
    } finally {
      state.joining = false;
    }
  }

  // give the seat back when the page goes away, so the next in line gets it now
  window.addEventListener("pagehide", () => {
    if (!state.ticket) return;
    navigator.sendBeacon(`/api/spaces/${encodeURIComponent(spaceId)}/leave`,
      new Blob([JSON.stringify({ ticket: state.ticket })], { type: "application/json" }));
  });

  // --- reactions ---
  document.querySelectorAll("#reactions button").forEach((b) => {
    b.addEventListener("click", () => {
      fetch(`/api/spaces/${encodeURIComponent(spaceId)}/reactions`, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ emoji: b.dataset.emoji }) }).catch(() => {});
    });
  });

  // --- details ---
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
    const r = (doc.reactions && doc.reactions.last_second) || {};
    $("reaction-burst").textContent = Object.entries(r).map(([k, n]) => `${k} ${n}`).join("  ");
    $("reactions").hidden = doc.state !== "live";
    if (doc.state === "live" && doc.on_air && !state.ticket && !state.joining) {
      join();
    } else if (doc.state === "ended") {
      $("queue").hidden = true;
      if (doc.replay_url) {
        $("replay").hidden = false;
        $("replay-link").href = "#replay";
        $("download-link").href = doc.replay_download_url;
      }
    }
  }
  $("replay-link").addEventListener("click", (e) => {
    e.preventDefault();
    if (state.doc && state.doc.replay_url) play(state.doc.replay_url);
  });

  async function poll() {
    try {
      const doc = await th.api("/api/spaces/" + encodeURIComponent(spaceId));
      if (!state.doc || doc.server_time !== state.doc.server_time) state.freshAt = Date.now();
      if (state.offset === 0) state.offset = Date.parse(doc.server_time) - Date.now();
      state.doc = doc;
      state.failures = 0;
      // an edge may keep answering from cache while the origin is away: say so, calmly
      const stale = Date.now() - (state.freshAt || Date.now()) > 10000;
      state.stale = stale;
      $("conn").textContent = stale ? "reconnecting…" : "";
      if (stale) th.setBadge($("state"), "reconnecting");
      showError("");
      if (!stale) render(doc);
    } catch (err) {
      if (err.status === 404) { showError("This space does not exist."); return; }
      state.failures += 1;
      // the origin is busy or away: keep what we know and say so, never "unavailable"
      $("conn").textContent = "reconnecting…";
      if (state.doc) th.setBadge($("state"), "reconnecting");
    }
    setTimeout(poll, state.failures ? Math.min(10000, 1000 * 2 ** state.failures) : 2000);
  }
  setInterval(() => {
    if (state.doc && !state.failures && !state.stale) render(state.doc);
  }, 1000);
  poll();
})();
