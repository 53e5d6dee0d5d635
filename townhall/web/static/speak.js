// Asking to speak from the listener page: raise a hand with a name, wait for the host, and
// once approved ask for the microphone and go on stage over WHIP (whip.js), with mute and
// leave. The raised-hand token is kept in sessionStorage under the same slot the speaker
// page uses, so a reload keeps the place. While on stage the HLS player is muted: the
// speaker hears the others directly over WebRTC, not three seconds late.
/* global th, thWhip */
import { icon } from "./icons.js";

export function setupSpeak(spaceId, ui, { announce, onChange, programAudio }) {
  const slot = "townhall-speaker-" + spaceId;
  const api = `/api/spaces/${encodeURIComponent(spaceId)}`;
  let token = sessionStorage.getItem(slot);
  let me = null;
  let live = null;
  let going = false;
  let timer = null;
  const auth = () => ({ Authorization: "Bearer " + token });

  const call = (path, opts = {}) => th.api(api + path, opts);  // common.js: retries shed writes

  function render() {
    const state = me ? me.state : null;
    ui.request.hidden = Boolean(token) || live !== null;
    ui.waiting.hidden = state !== "raised";
    ui.onstage.hidden = live === null;
    ui.join.hidden = live !== null || state !== "invited" || going;
    if (me) {
      ui.mute.setAttribute("aria-pressed", String(Boolean(me.muted)));
      ui.mute.innerHTML = icon(me.muted ? "micOff" : "mic") + `<span>${me.muted ? "Unmute" : "Mute"}</span>`;
    }
    if (onChange) onChange({ state, live: live !== null });
  }

  async function goLive() {
    if (going || live) return;
    going = true;
    render();
    ui.status.textContent = "Asking for your microphone…";
    try {
      live = await thWhip.publish(me.whip_url, token, {
        iceServers: me.ice_servers,
        onState: (s) => {
          ui.status.textContent = s === "on air" ? "You are on stage" : s;
          if (s === "closed" && live) {
            leave(`The connection ended${live.error ? ": " + live.error : ""}.`);
          }
        },
      });
      window.thLive = live;  // for the browser tests: live.pc.getStats()
      if (programAudio) programAudio.muted = true;
      announce("You are on stage. Your microphone is live.");
    } catch (err) {
      ui.status.textContent = `Could not go on stage: ${err.message}`;
    } finally {
      going = false;
      render();
    }
  }

  async function leave(why = "") {
    const l = live;
    live = null;
    window.thLive = null;
    if (l) await l.stop();
    if (programAudio) programAudio.muted = false;
    ui.status.textContent = why;
    render();
  }

  async function refresh() {
    if (!token) { render(); return; }
    const asked = token;
    try {
      const before = me ? me.state : null;
      const seat = await call("/speakers/me", { headers: auth() });
      if (token !== asked) return;  // withdrawn (or replaced) while this was in flight
      me = seat;
      if (me.state === "invited" && before === "raised") {
        announce("The host said yes: your turn to speak.");
        goLive();
      }
      if (me.state === "removed") {
        if (live) await leave("The host took you off the stage.");
        sessionStorage.removeItem(slot);
        token = null;
        if (before === "raised") announce("The host declined your request this time.");
        me = null;
      }
    } catch (err) {
      if (token !== asked) return;
      if (err.status === 401 || err.status === 403 || err.status === 404) {
        sessionStorage.removeItem(slot);
        token = null;
        me = null;
      }
    }
    render();
  }

  ui.form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = ui.name.value.trim();
    if (!name) { ui.name.focus(); return; }
    try {
      const seat = await call("/hands", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name }) });
      token = seat.token;
      sessionStorage.setItem(slot, token);
      ui.dialog.close();
      announce("Your request to speak is with the host.");
    } catch (err) { ui.formError.textContent = err.message; }
    refresh();
  });
  ui.request.addEventListener("click", () => {
    ui.formError.textContent = "";
    ui.dialog.showModal();
    ui.name.focus();
  });
  ui.cancel.addEventListener("click", () => ui.dialog.close());
  ui.withdraw.addEventListener("click", async () => {
    // forget the seat first, so that no refresh asks for it while (or after) it is lowered
    const seat = me;
    const held = auth();
    sessionStorage.removeItem(slot);
    token = null;
    me = null;
    render();
    try { if (seat) await call(`/speakers/${seat.id}/lower`, { method: "POST", headers: held }); }
    catch (_) { /* the seat is gone either way */ }
  });
  ui.join.addEventListener("click", goLive);
  ui.mute.addEventListener("click", async () => {
    if (!me) return;
    try {
      me = await call(`/speakers/${me.id}/${me.muted ? "unmute" : "mute"}`,
                      { method: "POST", headers: auth() });
      if (live) live.setMuted(me.muted);
    } catch (err) { ui.status.textContent = err.message; }
    render();
  });
  ui.leave.addEventListener("click", () => leave("You left the stage; you can go back on."));

  return {
    start() {
      if (timer) return;
      refresh();
      timer = setInterval(refresh, 1500);
    },
    stop() { clearInterval(timer); timer = null; if (live) leave(); },
  };
}
