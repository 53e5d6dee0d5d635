// The player bootstrap: a seat (ticket) or a waiting-room place, proof of work in attack
// mode, ticket renewal, and LL-HLS through hls.js (loaded only when there is something to
// play, so a page before the start stays light). Owns no UI: it reports through `on(...)`
// callbacks and keeps its state in `state` (window.townhall, for the browser tests).
// A latency tier or another playlist choice belongs here, in one place (issue 12).
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const jitter = (s) => (s * 1000) * (0.8 + Math.random() * 0.4);

let hlsLoading = null;
function loadScript(src) {
  return new Promise((resolve) => {
    const s = document.createElement("script");
    s.src = src;
    s.onload = () => resolve(true);
    s.onerror = () => resolve(false);
    document.head.appendChild(s);
  });
}
function loadHls() {
  if (window.Hls) return Promise.resolve(window.Hls);
  if (!hlsLoading) {
    // hls.js and its playlist loader (static/hint_reload.js): only once there is something
    // to play, so a page before the start stays within its weight
    hlsLoading = Promise.all([
      loadScript("/static/vendor/hls.min.js"),
      window.thHintReloads ? true : loadScript("/static/hint_reload.js"),
    ]).then(([ok]) => {
      if (!ok) hlsLoading = null;
      return ok ? window.Hls : null;
    });
  }
  return hlsLoading;
}

export function createPlayer(audio, spaceId, on = {}) {
  const emit = (name, ...args) => { if (on[name]) on[name](...args); };
  const state = { doc: null, playing: null, hls: null, errors: [], ticket: null,
                  joining: false, waiting: null, pow: null, noGrant: false, captions: false,
                  live: true, targetLatency: null };

  function withTicket(url) {
    // every media URL carries the newest ticket, so renewals never interrupt playback
    return state.ticket ? url.replace(/\/t\/[^/]+\//, "/t/" + state.ticket + "/") : url;
  }

  async function play(url, { live = true, startAt = 0 } = {}) {
    if (state.playing === url) return;
    state.playing = url;
    state.live = live;
    if (state.hls) { state.hls.destroy(); state.hls = null; }
    const Hls = await loadHls();
    if (Hls === null && !audio.canPlayType("application/vnd.apple.mpegurl")) {
      // the script did not arrive (an origin shedding under load answers 503): try again
      emit("connection", "reconnecting…");
      state.playing = null;
      setTimeout(() => play(url, { live, startAt }), jitter(2));
      return;
    }
    if (Hls && Hls.isSupported()) {
      const hls = new Hls({
        lowLatencyMode: live, backBufferLength: 30, startPosition: live ? -1 : startAt,
        // wait for two whole segments: joining while the playlist holds only its first
        // segment makes hls.js 1.7 re-fetch that segment's last part in a loop (a 3-5 s
        // stall for everyone who was waiting for the space to start)
        initialLiveManifestSize: 2,
        xhrSetup: (xhr, u) => { xhr.open("GET", withTicket(u), true); },
        // every second blocking reload answered from the preload hint (static/hint_reload.js)
        pLoader: live && window.thHintReloads ? window.thHintReloads(Hls) : undefined,
      });
      hls.on(Hls.Events.ERROR, (_, data) => {
        state.errors.push({ type: data.type, details: data.details, fatal: data.fatal });
        if (data.fatal) {
          emit("connection", "reconnecting…");
          if (data.type === Hls.ErrorTypes.NETWORK_ERROR) setTimeout(() => hls.startLoad(), 1000);
          else if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
        }
      });
      // captions: the WebVTT rendition (docs/captions.md), offered when the space has one
      hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, (_, data) => {
        emit("captionsAvailable", data.subtitleTracks.length > 0);
        if (state.captions) setCaptions(true);
      });
      hls.on(Hls.Events.LEVEL_UPDATED, () => { if (state.captions) holdBackForCaptions(true); });
      hls.loadSource(url);
      hls.attachMedia(audio);
      if (live && window.thLatency) window.thLatency.joinAtLiveEdge(hls, audio);
      state.hls = hls;
    } else if (audio.canPlayType("application/vnd.apple.mpegurl")) {
      audio.src = url;  // Safari and iOS play LL-HLS natively
      if (!live && startAt) audio.currentTime = startAt;
    } else {
      emit("error", "This browser cannot play HLS audio.");
      return;
    }
    audio.play().then(() => emit("autoplay", true)).catch(() => emit("autoplay", false));
  }

  // Captions on or off. hls.js turns the WebVTT rendition into a TextTrack of the <audio>;
  // an audio element draws nothing, so each change of the active cues is handed to the page
  // ("caption"), which shows it large. Safari's native HLS exposes the same TextTrack.
  function setCaptions(on) {
    state.captions = on;
    if (state.hls) {
      state.hls.subtitleDisplay = false;  // cues are read from the track, never drawn by it
      state.hls.subtitleTrack = on ? 0 : -1;
      holdBackForCaptions(on);
    }
    for (const track of audio.textTracks) {
      if (track.kind !== "subtitles" && track.kind !== "captions") continue;
      track.mode = on ? "hidden" : "disabled";
      track.oncuechange = () => {
        const cues = Array.from(track.activeCues || []);
        emit("caption", cues.map((c) => c.text).join(" "));
      };
    }
    if (!on) emit("caption", "");
  }
  audio.textTracks.addEventListener("addtrack", () => { if (state.captions) setCaptions(true); });

  // Captions are made from what was said: a cue is fetchable 2-5 s after its speech
  // (docs/captions.md), and hls.js never goes back for a subtitle segment behind its
  // playhead, so a low-latency player (about 1 s from live) would pass every cue before it
  // exists. With captions on, a live player holds back CAPTIONS_TARGET_DURATIONS target
  // durations (where the standard tier plays: one step back, heard once), and returns to
  // the playlist's own hold-back when they are switched off. The standard tier is there
  // already and does not move.
  const CAPTIONS_TARGET_DURATIONS = 3;
  function holdBackForCaptions(on) {
    const hls = state.hls;
    if (!hls || !state.live || !hls.levels) return;
    const level = hls.levels[Math.max(0, hls.currentLevel)];
    const details = level && level.details;
    if (!details || !details.live) return;  // asked again at the next LEVEL_UPDATED
    const standard = CAPTIONS_TARGET_DURATIONS * details.targetduration;
    const want = on ? standard : (details.partHoldBack || details.holdBack || standard);
    // compared with what was set here, not hls.targetLatency (a stall adds to that)
    if (state.targetLatency === null ? !on : Math.abs(state.targetLatency - want) < 0.05) return;
    hls.targetLatency = want;
    state.targetLatency = want;
    const target = hls.liveSyncPosition;
    if (target !== null && audio.currentTime && Math.abs(audio.currentTime - target) > 0.5) {
      audio.currentTime = target;
    }
  }

  function solve(challenge, difficulty) {
    return new Promise((resolve, reject) => {
      const w = new Worker("/static/pow-worker.js");
      // the worker script may not arrive (503 while the origin sheds): the join loop retries
      w.onerror = () => { w.terminate(); reject(new Error("the verification did not start")); };
      w.onmessage = (e) => {
        if (e.data.progress !== undefined) { emit("verifying", e.data.progress); return; }
        w.terminate();
        e.data.solution ? resolve(e.data.solution) : reject(new Error("no solution"));
      };
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
    const payload = viaGrant ? (body.renew ? { grant, renew: body.renew,
                                               seat_secret: body.seat_secret } : { grant })
                             : body;
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
          if (state.waiting) { state.waiting = null; emit("admitted"); }
          state.pow = null;
          emit("verifying", null);
          state.ticket = data.ticket;
          state.seatSecret = data.seat_secret;  // kept here, never in a URL: renew and leave
          // the latency tier the details announce (tier.js); a playing page keeps its own
          play(window.thTier ? window.thTier.playlistFor(data.playlist_url, state.doc, state.playing)
            : data.playlist_url);
          setTimeout(() => join({ renew: state.ticket, seat_secret: state.seatSecret }),
                     data.renew_after_s * 1000);
          return;
        }
        if (status === 202) {
          if (!state.waiting) state.firstPosition = data.position;
          state.waiting = data;
          emit("waiting", data, state.firstPosition);
          body = { token: data.token };
          await sleep(jitter(data.poll_after_s));
          continue;
        }
        if (status === 428) {
          state.pow = { difficulty: data.difficulty };
          emit("verifying", 0);
          const solution = await solve(data.challenge, data.difficulty);
          emit("verifying", 1);
          body = { ...body, challenge: data.challenge, solution };
          continue;
        }
        if (status === 409) { return; }  // ended: the details poll shows the replay
        if (status === 403 || status === 404) { body = {}; continue; }  // seat or place lost
        // 429 / 503 / network trouble: wait as told, never hammer
        await sleep(jitter(Math.min(30, retry * (1 + attempt / 4))));
      }
    } catch (err) {
      emit("connection", "reconnecting…");
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
      new Blob([JSON.stringify({ ticket: state.ticket, seat_secret: state.seatSecret })],
               { type: "application/json" }));
  });

  // how far behind the live edge the listener is, in seconds (null: unknown or not live)
  function behindLive() {
    const hls = state.hls;
    if (!hls || hls.liveSyncPosition == null || !audio.currentTime) return null;
    return Math.max(0, hls.liveSyncPosition - audio.currentTime);
  }
  function jumpToLive() {
    const hls = state.hls;
    if (hls && hls.liveSyncPosition != null) audio.currentTime = hls.liveSyncPosition;
    audio.play().catch(() => {});
  }

  return { state, play, join, behindLive, jumpToLive, loadHls, setCaptions };
}
