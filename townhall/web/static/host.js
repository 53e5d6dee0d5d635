// The host's page: ingest URL to paste, live state and audience, End button.
"use strict";
(function () {
  const spaceId = location.pathname.split("/")[2];
  const $ = (id) => document.getElementById(id);
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("key");
  if (fromHash) {
    sessionStorage.setItem("townhall-key-" + spaceId, fromHash);
    history.replaceState(null, "", location.pathname);  // keep the key out of history
  }
  let key = sessionStorage.getItem("townhall-key-" + spaceId);

  function showError(msg) { $("error").textContent = msg; $("error").hidden = !msg; }
  const auth = () => ({ Authorization: "Bearer " + key });

  async function refresh() {
    try {
      const doc = await th.api(`/api/spaces/${spaceId}/host`, { headers: auth() });
      $("need-key").hidden = true;
      $("panel").hidden = false;
      showError("");
      $("title").textContent = doc.title;
      th.setBadge($("state"), doc.state);
      $("listeners").textContent = doc.listeners.now.toLocaleString();
      $("peak").textContent = doc.listeners.peak.toLocaleString();
      $("ingest").textContent = doc.ingest_url;
      $("ffmpeg").textContent = doc.ffmpeg_command;
      $("page").href = doc.page_url;
      $("page").textContent = doc.page_url;
      const ended = doc.state === "ended";
      $("end").disabled = ended;
      $("ended").hidden = !ended;
      if (doc.replay_url) $("replay").href = doc.page_url;
    } catch (err) {
      if (err.status === 401) {
        $("need-key").hidden = false;
        $("panel").hidden = true;
        showError(key ? "That host key is not valid for this space." : "");
        return;
      }
      showError("Connection problem: " + err.message + " (retrying)");
    }
  }
  $("use-key").addEventListener("click", () => {
    key = $("key").value.trim();
    sessionStorage.setItem("townhall-key-" + spaceId, key);
    refresh();
  });
  $("end").addEventListener("click", async () => {
    if (!confirm("End this space for everyone? The replay will be published.")) return;
    try {
      await th.api(`/api/spaces/${spaceId}/end`, { method: "POST", headers: auth() });
    } catch (err) { showError(err.message); }
    refresh();
  });
  if (!key) $("need-key").hidden = false;
  refresh();
  setInterval(() => { if (key) refresh(); }, 2000);
})();

// The stage: go live from the microphone over WHIP with the host key, invite speakers (a
// link with a speaker token), approve raised hands, mute, unmute and remove.
(function () {
  const spaceId = location.pathname.split("/")[2];
  const $ = (id) => document.getElementById(id);
  const key = () => sessionStorage.getItem("townhall-key-" + spaceId);
  const auth = () => ({ Authorization: "Bearer " + key() });
  let live = null;
  let stage = null;

  function showError(msg) { $("error").textContent = msg; $("error").hidden = !msg; }
  function myself() { return stage && stage.seats.find((s) => s.role === "host"); }

  function render() {
    $("go-live").hidden = live !== null;
    $("mute-self").hidden = live === null;
    $("leave").hidden = live === null;
    const me = myself();
    $("mute-self").textContent = me && me.muted ? "Unmute" : "Mute";
    if (!stage) return;
    $("stage-live").textContent = stage.live;
    $("stage-cap").textContent = stage.speaker_cap;
    const button = (id, action, label) =>
      `<button class="secondary" data-id="${th.esc(id)}" data-action="${action}">${label}</button>`;
    $("seats").innerHTML = stage.seats.map((s) => {
      const tools = [];
      if (s.state === "raised") {
        tools.push(button(s.id, "approve", "Let in"), button(s.id, "lower", "Decline"));
      } else if (s.role !== "host") {
        tools.push(button(s.id, s.muted ? "unmute" : "mute", s.muted ? "Unmute" : "Mute"));
        if (s.state === "invited" && s.speak_url) tools.push(button(s.id, "copy", "Copy link"));
        tools.push(button(s.id, "remove", "Remove"));
      }
      const what = s.state === "raised" ? "hand raised" : s.state;
      return `<li class="${s.speaking ? "speaking" : ""}" data-seat="${th.esc(s.id)}">` +
        `<b>${th.esc(s.name)}</b> <span class="muted">${th.esc(s.role)} · ${th.esc(what)}` +
        `${s.muted ? " · muted" : ""}${s.speaking ? " · speaking" : ""}</span>` +
        tools.join("") + "</li>";
    }).join("");
  }

  async function refresh() {
    if (!key()) return;
    try {
      stage = await th.api(`/api/spaces/${spaceId}/speakers`, { headers: auth() });
    } catch (err) { if (err.status !== 401) showError(err.message); }
    render();
  }

  async function act(seatId, action) {
    const path = `/api/spaces/${spaceId}/speakers/${seatId}`;
    if (action === "remove") {
      await th.api(path, { method: "DELETE", headers: auth() });
    } else {
      await th.api(`${path}/${action}`, { method: "POST", headers: auth() });
    }
  }

  $("seats").addEventListener("click", async (ev) => {
    const btn = ev.target.closest("button[data-action]");
    if (!btn) return;
    const seat = stage.seats.find((s) => s.id === btn.dataset.id);
    try {
      if (btn.dataset.action === "copy") {
        $("invite-url").textContent = seat.speak_url;
        $("invite-link").hidden = false;
        if (navigator.clipboard) navigator.clipboard.writeText(seat.speak_url).catch(() => {});
      } else {
        await act(btn.dataset.id, btn.dataset.action);
      }
      showError("");
    } catch (err) { showError(err.message); }
    refresh();
  });

  $("invite").addEventListener("click", async () => {
    const name = $("invite-name").value.trim();
    if (!name) { showError("Give the speaker's name."); return; }
    try {
      const seat = await th.api(`/api/spaces/${spaceId}/speakers`, {
        method: "POST", headers: { ...auth(), "Content-Type": "application/json" },
        body: JSON.stringify({ name, role: $("invite-role").value }) });
      $("invite-url").textContent = seat.speak_url;
      $("invite-link").hidden = false;
      $("invite-name").value = "";
      showError("");
    } catch (err) { showError(err.message); }
    refresh();
  });

  thWhip.bindGoLive($("go-live"), {
    current: () => live,
    target: async () => {
      if (!stage) await refresh();
      return { url: stage.whip_url, token: key(), iceServers: stage.ice_servers };
    },
    onLive: (l) => { live = l; render(); },
    onError: showError,
    onState: (state) => { $("conn").textContent = state; },
    after: refresh,
  });

  $("mute-self").addEventListener("click", async () => {
    const me = myself();
    const action = me && me.muted ? "unmute" : "mute";
    try {
      await act("host", action);
      if (live) live.setMuted(action === "mute");
    } catch (err) { showError(err.message); }
    refresh();
  });

  $("leave").addEventListener("click", async () => {
    if (live) await live.stop();
    live = null;
    window.thLive = null;
    refresh();
  });

  refresh();
  setInterval(refresh, 1000);
})();
