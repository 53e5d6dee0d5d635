// A speaker's page: come in with an invite link (#token=…) or raise a hand, go live over
// WHIP from the microphone, hear everyone else on stage, mute, leave.
"use strict";
(function () {
  const spaceId = location.pathname.split("/")[2];
  const $ = (id) => document.getElementById(id);
  const slot = "townhall-speaker-" + spaceId;
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) {
    sessionStorage.setItem(slot, fromHash);
    history.replaceState(null, "", location.pathname);  // keep the token out of history
  }
  let token = sessionStorage.getItem(slot);
  let me = null;
  let live = null;

  function showError(msg) { $("error").textContent = msg; $("error").hidden = !msg; }
  const auth = () => ({ Authorization: "Bearer " + token });

  function render() {
    const state = me ? me.state : null;
    $("hand").hidden = Boolean(token);
    $("waiting").hidden = state !== "raised";
    $("go-live").hidden = live !== null || state !== "invited";
    $("mute").hidden = live === null;
    $("leave").hidden = live === null;
    $("link").hidden = live === null;
    if (me) {
      $("who").textContent = `${me.name} · ${me.role}` + (me.muted ? " · muted" : "");
      $("mute").textContent = me.muted ? "Unmute" : "Mute";
    }
  }

  async function refreshMe() {
    if (!token) { render(); return; }
    try {
      me = await th.api(`/api/spaces/${spaceId}/speakers/me`, { headers: auth() });
      if (me.state === "removed") {
        showError("The host removed you from the stage.");
        if (live) { live.stop(); live = null; }
      } else if (!live) {
        showError("");
      }
    } catch (err) {
      if (err.status === 401 || err.status === 403) {
        sessionStorage.removeItem(slot);
        token = null;
        me = null;
      }
      showError(err.message);
    }
    render();
  }

  async function refreshStage() {
    try {
      const doc = await th.api(`/api/spaces/${spaceId}`);
      $("title").textContent = doc.title;
      th.setBadge($("state"), doc.state);
      $("listen").href = doc.page_url;
      $("stage").innerHTML = doc.speakers.map((s) =>
        `<li class="${s.speaking ? "speaking" : ""}" data-id="${th.esc(s.id)}">` +
        `<span class="dot"></span><b>${th.esc(s.name)}</b> <span class="muted">` +
        `${th.esc(s.role)}${s.muted ? " · muted" : ""}</span></li>`).join("") ||
        '<li class="muted">Nobody is live yet.</li>';
    } catch (err) { showError("Connection problem: " + err.message + " (retrying)"); }
  }

  $("raise").addEventListener("click", async () => {
    const name = $("name").value.trim();
    if (!name) { showError("Give a name the host will see."); return; }
    try {
      const seat = await th.api(`/api/spaces/${spaceId}/hands`, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name }) });
      token = seat.token;
      sessionStorage.setItem(slot, token);
      showError("");
    } catch (err) { showError(err.message); }
    refreshMe();
  });

  thWhip.bindGoLive($("go-live"), {
    current: () => live,
    target: async () => ({ url: me.whip_url, token, iceServers: me.ice_servers }),
    onLive: (l) => { live = l; },
    onError: showError,
    onState: (state) => { $("conn").textContent = state; },
    after: refreshMe,
  });

  $("mute").addEventListener("click", async () => {
    const action = me && me.muted ? "unmute" : "mute";
    try {
      me = await th.api(`/api/spaces/${spaceId}/speakers/${me.id}/${action}`,
                        { method: "POST", headers: auth() });
      if (live) live.setMuted(me.muted);
    } catch (err) { showError(err.message); }
    render();
  });

  $("leave").addEventListener("click", async () => {
    if (live) await live.stop();
    live = null;
    window.thLive = null;
    refreshMe();
  });

  refreshMe();
  refreshStage();
  setInterval(refreshMe, 2000);
  setInterval(refreshStage, 1000);
})();
