// The replay's clip tool on the listener page, once the replay is shown: a button that cuts
// a clip at segment boundaries, with its own Content Credentials (/replay/ID/clip?from=S&to=S).
// (The in-browser verification is replay.js's, through verify.js.)
const spaceId = location.pathname.split("/")[2];
const replay = document.getElementById("replay");
let done = false;

function start() {
  if (done || replay.hidden) return;
  done = true;
  document.getElementById("replay-tools").hidden = false;
  document.getElementById("clip").addEventListener("click", () => {
    const from = document.getElementById("clip-from").value || "0";
    const to = document.getElementById("clip-to").value || "30";
    location.href = `/replay/${encodeURIComponent(spaceId)}/clip?from=${encodeURIComponent(from)}` +
      `&to=${encodeURIComponent(to)}`;
  });
}

new MutationObserver(start).observe(replay, { attributes: true, attributeFilter: ["hidden"] });
start();
