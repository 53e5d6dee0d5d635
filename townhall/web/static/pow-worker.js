// Solves a townhall proof-of-work challenge off the main thread:
// find a counter c such that SHA-256("<challenge>:<c>") starts with `difficulty` zero bits.
// Reports progress as the share of the expected work done (2^difficulty tries on average),
// capped below 1: the search has no guaranteed end, so the page shows an honest estimate.
"use strict";
function zeroBits(bytes) {
  let bits = 0;
  for (const b of bytes) {
    if (b === 0) { bits += 8; continue; }
    return bits + Math.clz32(b) - 24;
  }
  return bits;
}
self.onmessage = async (e) => {
  const { challenge, difficulty } = e.data;
  const enc = new TextEncoder();
  const expected = 2 ** difficulty;
  for (let c = 0; c < 2 ** 32; c++) {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256",
      enc.encode(challenge + ":" + c)));
    if (zeroBits(digest) >= difficulty) { self.postMessage({ solution: String(c) }); return; }
    if (c % 256 === 255) self.postMessage({ progress: Math.min(0.95, 1 - Math.exp(-c / expected)) });
  }
  self.postMessage({ error: "no solution" });
};
