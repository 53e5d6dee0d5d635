// The replay's tools on the listener page, once the replay is shown: the in-browser
// verification (verify.js) and a button that cuts a clip at segment boundaries, with its
// own Content Credentials (/replay/ID/clip?from=S&to=S).
import { renderVerification } from "/static/verify.js";

const spaceId = location.pathname.split("/")[2];
const replay = document.getElementById("replay");
let done = false;

function start() {
  if (done || replay.hidden) return;
  done = true;
  const tools = document.getElementById("replay-tools");
  tools.hidden = false;
  renderVerification(document.getElementById("verification"), spaceId);
  document.getElementById("clip").addEventListener("click", () => {
    const from = document.getElementById("clip-from").value || "0";
    const to = document.getElementById("clip-to").value || "30";
    location.href = `/replay/${encodeURIComponent(spaceId)}/clip?from=${encodeURIComponent(from)}` +
      `&to=${encodeURIComponent(to)}`;
  });
}

new MutationObserver(start).observe(replay, { attributes: true, attributeFilter: ["hidden"] });
start();
