// Going live over WHIP (RFC 9725): publish the microphone, play what the server sends back
// (everyone on stage but you), stop with DELETE. Shared by the host, speaker and listener
// pages.
//
// A session stays on air by itself: when the origin carrying it dies (kill -9, a lost
// machine) or the connection breaks, the page notices (ICE/connection "failed", "disconnected"
// for RECONNECT.disconnectedMs, or no audio from the server for RECONNECT.silentMs: the
// server sends talk-back or silence every 20 ms) and publishes again through the same public
// URL (the edge sends it to a live origin, which takes the space's program), with the same
// microphone and the same seat credential, backing off with jitter. The page shows
// "reconnecting…" and then "on air". A refusal that retrying cannot fix (removed from the
// stage, a bad token, the space ended) stops it and says why.
"use strict";
const thWhip = {
  RECONNECT: { firstMs: 500, maxMs: 8000, giveUpMs: 120000, disconnectedMs: 2000,
               silentMs: 3000, connectingMs: 10000, checkMs: 500 },
  // answers retrying cannot change: the seat or the space says no
  FINAL: new Set(["removed", "bad_token", "missing_token", "wrong_space", "space_ended",
                  "not_approved", "space_not_found", "not_found", "stage_full"]),

  // Resolves once ICE has gathered every candidate (the server takes no trickle ICE: the
  // offer carries them all, so this page never sends a trickle PATCH; a standard WHIP client
  // that does gets a readable 405, RFC 9725 §4.3.1, which the CORS preflight lets through).
  gathered(pc, timeoutMs) {
    return new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
      pc.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, timeoutMs);  // publish what we have: host candidates come first
    });
  },

  // Wires a "Go live" button: publish when clicked, show connection states, and when the
  // session gives up (after reconnecting failed for long, or a final refusal), stop it and
  // say how to rejoin. `target()` resolves to { url, token, iceServers }; `current()` is the
  // page's session (null once it left); `onLive(session or null)` sets it; `after()`
  // refreshes the page after each attempt.
  bindGoLive(button, { target, current, onLive, onError, onState, after }) {
    button.addEventListener("click", async () => {
      button.disabled = true;
      let session = null;
      try {
        const t = await target();
        session = await thWhip.publish(t.url, t.token, {
          iceServers: t.iceServers,
          onState: (state) => {
            onState(state);
            if (state === "on air") onError("");
            if (state === "closed" && session && current() === session) {
              session.stop();
              onLive(null);
              onError((session.error ? session.error + " " : "")
                      + "The connection ended; click Go live to rejoin.");
              after();
            }
          },
        });
        window.thLive = session;  // for tests and the curious: session.pc.getStats()
        onLive(session);
        onError("");
      } catch (err) {
        onError(err.message);
      } finally {
        button.disabled = false;
      }
      after();
    });
  },

  // One WHIP POST with an open microphone: resolves to { pc, location } once the answer is
  // applied, or throws an Error with .status and .code.
  async negotiate(url, token, track, stream, iceServers, onTrack) {
    const pc = new RTCPeerConnection({ iceServers });
    pc.addTransceiver(track, { direction: "sendrecv", streams: [stream] });
    pc.ontrack = onTrack;
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await thWhip.gathered(pc, 3000);
      const headers = { "Content-Type": "application/sdp", Authorization: "Bearer " + token };
      let res = null;
      for (let attempt = 0; attempt < 5; attempt++) {
        res = await fetch(url, { method: "POST", headers, body: pc.localDescription.sdp });
        if (res.status !== 503) break;  // shed under load: come back after Retry-After
        const wait = Number(res.headers.get("Retry-After")) || 1;
        await new Promise((r) => setTimeout(r, wait * 1000));
      }
      if (res.status !== 201) {
        let body = null;
        try { body = await res.json(); } catch (_) { body = null; }
        const err = new Error((body && body.detail) || `HTTP ${res.status}`);
        err.status = res.status;
        err.code = body && body.error;
        throw err;
      }
      const location = new URL(res.headers.get("Location"), url).href;
      await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
      return { pc, location };
    } catch (err) {
      pc.close();
      throw err;
    }
  },

  async publish(url, token, { iceServers = [], onState = null } = {}) {
    const R = thWhip.RECONNECT;
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      video: false,
    });
    const track = stream.getAudioTracks()[0];
    const audio = new Audio();
    audio.autoplay = true;
    const onTrack = (ev) => {
      audio.srcObject = new MediaStream([ev.track]);
      audio.play().catch(() => {});  // autoplay needs the click that started this
    };
    const history = [];  // the states shown, newest last (for tests and the curious)
    let rejoining = false;  // from a lost connection until the new one is on air
    const say = (state) => {
      const shown = state === "connected" ? "on air"
        : rejoining && state !== "closed" ? "reconnecting…" : state;
      if (shown === "on air") rejoining = false;
      if (history[history.length - 1] !== shown) history.push(shown);
      if (history.length > 20) history.shift();
      if (onState) onState(shown);
    };
    let cur = null;
    try {
      cur = await thWhip.negotiate(url, token, track, stream, iceServers, onTrack);
    } catch (err) {
      stream.getTracks().forEach((t) => t.stop());
      throw err;
    }
    let stopped = false;
    let reconnecting = false;
    let badSince = null;  // when the connection last looked broken (null: it looks fine)
    let lastPackets = -1;
    let lastPacketAt = Date.now();
    let negotiatedAt = Date.now();
    const del = (location) => fetch(location, {
      method: "DELETE", keepalive: true, headers: { Authorization: "Bearer " + token } });
    const bye = () => { if (cur) del(cur.location); };
    window.addEventListener("pagehide", bye);

    const session = {
      stream, audio, history, reconnects: 0, error: null,
      get pc() { return cur ? cur.pc : null; },
      get location() { return cur ? cur.location : null; },
      setMuted(muted) { track.enabled = !muted; },
      async inbound() {
        if (!cur) return null;
        for (const s of (await cur.pc.getStats()).values()) {
          if (s.type === "inbound-rtp" && s.kind === "audio") return s;
        }
        return null;
      },
      async stop() {
        stopped = true;
        clearInterval(watch);
        window.removeEventListener("pagehide", bye);
        const last = cur;
        cur = null;
        if (last) {
          try { await del(last.location); } catch (_) { /* dropped within 2 s anyway */ }
          last.pc.close();
        }
        stream.getTracks().forEach((t) => t.stop());
        audio.srcObject = null;
      },
    };

    const watchState = (pc) => {
      pc.onconnectionstatechange = () => {
        if (stopped || !cur || cur.pc !== pc) return;
        const state = pc.connectionState;
        say(state);
        if (state === "failed" || state === "closed") reconnect(state);
      };
    };
    watchState(cur.pc);

    // publish again through the same URL until on air, a final refusal, or giveUpMs
    async function reconnect(why) {
      if (reconnecting || stopped) return;
      reconnecting = true;
      rejoining = true;
      say("reconnecting…");
      const old = cur;
      if (old) {
        old.pc.onconnectionstatechange = null;
        // free the seat if the old origin still lives (else its watchdog drops it)
        old.pc.close();
        await Promise.race([del(old.location).catch(() => null),
                            new Promise((r) => setTimeout(r, 2000))]);
      }
      const began = Date.now();
      let delay = R.firstMs;
      while (!stopped) {
        try {
          const next = await thWhip.negotiate(url, token, track, stream, iceServers, onTrack);
          if (stopped) { next.pc.close(); break; }
          cur = next;
          session.reconnects += 1;
          badSince = null;
          lastPackets = -1;
          lastPacketAt = Date.now();
          negotiatedAt = Date.now();
          watchState(cur.pc);
          if (cur.pc.connectionState === "connected") say("connected");
          break;
        } catch (err) {
          if (thWhip.FINAL.has(err.code) || err.status === 401 || err.status === 403
              || err.status === 404 || Date.now() - began > R.giveUpMs) {
            session.error = err.message + (why ? ` (after: ${why})` : "");
            reconnecting = false;
            rejoining = false;
            cur = null;
            say("closed");
            return;
          }
          // already_live: the old session is still held; wait for its end. Else: the
          // origins are changing hands. Back off with jitter so a stage does not stampede.
          const wait = delay * (0.5 + Math.random());
          await new Promise((r) => setTimeout(r, wait));
          delay = Math.min(delay * 2, R.maxMs);
        }
      }
      reconnecting = false;
    }

    // a dead origin sends nothing: no packets for silentMs, or "disconnected" for long
    const watch = setInterval(async () => {
      if (stopped || reconnecting || !cur) return;
      const pc = cur.pc;
      const now = Date.now();
      if (pc.connectionState === "disconnected") {
        badSince = badSince === null ? now : badSince;
        if (now - badSince > R.disconnectedMs) reconnect("disconnected");
        return;
      }
      badSince = null;
      if (pc.connectionState !== "connected") {
        // an answer whose origin died before ICE completed never connects
        if (now - negotiatedAt > R.connectingMs) reconnect("no connection");
        return;
      }
      let inbound = null;
      try { inbound = await session.inbound(); } catch (_) { inbound = null; }
      const packets = inbound ? inbound.packetsReceived : 0;
      if (packets !== lastPackets) {
        lastPackets = packets;
        lastPacketAt = now;
      } else if (now - lastPacketAt > R.silentMs && cur && cur.pc === pc) {
        reconnect("no audio from the server");
      }
    }, R.checkMs);
    return session;
  },
};
