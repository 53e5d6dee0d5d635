// Going live over WHIP (RFC 9725): publish the microphone, play what the server sends back
// (everyone on stage but you), stop with DELETE. Shared by the host and speaker pages.
"use strict";
const thWhip = {
  // Resolves once ICE has gathered every candidate (the server takes no trickle ICE).
  gathered(pc, timeoutMs) {
    return new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
      pc.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, timeoutMs);  // publish what we have: host candidates come first
    });
  },

  // Wires a "Go live" button: publish when clicked, show connection states, and when the
  // session still in use fails or closes, stop it and say how to rejoin. `target()` resolves
  // to { url, token, iceServers }; `current()` is the page's session (null once it left);
  // `onLive(session or null)` sets it; `after()` refreshes the page after each attempt.
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
            if ((state === "failed" || state === "closed") && session
                && current() === session) {
              session.stop();
              onLive(null);
              onError("The connection ended; click Go live to rejoin.");
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

  async publish(url, token, { iceServers = [], onState = null } = {}) {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      video: false,
    });
    const track = stream.getAudioTracks()[0];
    const pc = new RTCPeerConnection({ iceServers });
    pc.addTransceiver(track, { direction: "sendrecv", streams: [stream] });
    const audio = new Audio();
    audio.autoplay = true;
    pc.ontrack = (ev) => {
      audio.srcObject = new MediaStream([ev.track]);
      audio.play().catch(() => {});  // autoplay needs the click that started this
    };
    if (onState) pc.onconnectionstatechange = () => onState(pc.connectionState);
    const release = () => { pc.close(); stream.getTracks().forEach((t) => t.stop()); };
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
      release();
      const err = new Error((body && body.detail) || `HTTP ${res.status}`);
      err.status = res.status;
      err.code = body && body.error;
      throw err;
    }
    const location = new URL(res.headers.get("Location"), url).href;
    await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
    const bye = () => fetch(location, { method: "DELETE", keepalive: true,
                                        headers: { Authorization: "Bearer " + token } });
    window.addEventListener("pagehide", bye);
    return {
      pc, stream, audio, location,
      setMuted(muted) { track.enabled = !muted; },
      async inbound() {
        for (const s of (await pc.getStats()).values()) {
          if (s.type === "inbound-rtp" && s.kind === "audio") return s;
        }
        return null;
      },
      async stop() {
        window.removeEventListener("pagehide", bye);
        try { await bye(); } catch (_) { /* the server drops us within 2 s anyway */ }
        release();
        audio.srcObject = null;
      },
    };
  },
};
