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
