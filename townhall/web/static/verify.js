// Verifies a recording in the browser with WebCrypto (ECDSA P-256 + SHA-256), offline from
// the origin's word: the signed manifest (/record/ID/manifest.json) must be signed by the
// published key (/.well-known/townhall-signing.json); every replay segment must hash to its
// entry and the chain to the signed head; each checkpoint this browser kept while live
// (checkpoints.js) must match the chain at its segment. Renders "verified" or
// "not verified: <why>" and the key fingerprint into `el`.
const te = new TextEncoder();
const PARALLEL = 6;  // segment fetches in flight

function unb64url(s) {
  const b = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
  return Uint8Array.from(b, (c) => c.charCodeAt(0));
}

function hex(buf) {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
}

function unhex(s) {
  return Uint8Array.from(s.match(/../g).map((h) => parseInt(h, 16)));
}

async function sha256(bytes) {
  return hex(await crypto.subtle.digest("SHA-256", bytes));
}

async function getJson(url, init = {}) {
  const res = await fetch(url, init);
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  return res.json();
}

async function getBytes(url) {
  const res = await fetch(url);
  if (res.status === 410) throw new Error("the host has just withdrawn the replay");
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function openStatement(doc, key, fingerprint, kind) {
  if (doc.fingerprint !== fingerprint) throw new Error(`the ${kind} is signed by another key`);
  const ok = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key,
                                        unb64url(doc.signature), te.encode(doc.payload));
  if (!ok) throw new Error(`the ${kind}'s signature does not verify`);
  const body = JSON.parse(doc.payload);
  if (body.type !== "townhall." + kind) throw new Error(`not a townhall ${kind}`);
  return body;
}

export async function verifyRecording(spaceId, onProgress = null) {
  const id = encodeURIComponent(spaceId);
  const published = await getJson("/.well-known/townhall-signing.json");
  const spki = unb64url(published.spki);
  if (await sha256(spki) !== published.fingerprint) throw new Error("the published key does not match its fingerprint");
  const key = await crypto.subtle.importKey("spki", spki, { name: "ECDSA", namedCurve: "P-256" },
                                            false, ["verify"]);
  const doc = await getJson(`/record/${id}/manifest.json`);
  if (!doc.key_seal) throw new Error("the manifest is not signed");
  const m = await openStatement(doc.key_seal, key, published.fingerprint, "manifest");
  const result = { fingerprint: published.fingerprint, segments: m.segments.length,
                   duration: m.segments.reduce((t, e) => t + e.duration, 0), checkpoints: 0,
                   withdrawn: null };
  const status = await getJson(`/record/${id}`, { cache: "no-cache" });
  if (status.state === "withdrawn") {  // the media is gone (410); the signed record stays
    result.withdrawn = status.withdrawal.withdrawn_at;
    return result;
  }
  const init = await getBytes(`/replay/${id}/init.mp4`);
  if (await sha256(init) !== m.init_sha256) throw new Error("the init section differs");
  let head = m.init_sha256;
  // segments are fetched a few at a time ahead of the chain, which is checked in order
  const digests = [];
  const fetchAt = (i) => {
    if (i < m.segments.length && !digests[i]) {
      digests[i] = getBytes(`/replay/${id}/seg/${m.segments[i].msn}.m4s`).then(sha256);
    }
  };
  for (let i = 0; i < m.segments.length; i++) {
    const e = m.segments[i];
    for (let k = i; k < i + PARALLEL; k++) fetchAt(k);
    const digest = await digests[i];
    digests[i] = true;  // let the bytes go
    const joined = new Uint8Array(64);
    joined.set(unhex(head), 0);
    joined.set(unhex(digest), 32);
    head = await sha256(joined);
    if (digest !== e.sha256 || head !== e.chain) throw new Error(`segment ${e.msn} differs`);
    if (onProgress && i % 50 === 49) onProgress(i + 1, m.segments.length);
  }
  const kept = (window.thCheckpoints && window.thCheckpoints.list(spaceId)) || [];
  for (const cpDoc of kept) {
    const cp = await openStatement(cpDoc, key, published.fingerprint, "checkpoint");
    const entry = m.segments[cp.segments - 1];
    if (!entry || entry.msn !== cp.msn || entry.chain !== cp.chain) {
      throw new Error(`the checkpoint you kept at segment ${cp.msn} (${cp.time}) does not match`);
    }
    result.checkpoints += 1;
  }
  return result;
}

export async function renderVerification(el, spaceId) {
  el.textContent = "verifying…";
  el.dataset.state = "running";
  try {
    const status = await getJson(`/record/${encodeURIComponent(spaceId)}`, { cache: "no-cache" });
    if (status.state === "live" || status.state === "none") {
      el.dataset.state = "pending";
      el.textContent = "the recording is signed when the space ends; this page keeps " +
        "signed checkpoints of it meanwhile";
      return;
    }
    const r = await verifyRecording(spaceId, (done, all) => {
      el.textContent = `verifying… ${done} of ${all} segments`;
    });
    if (r.withdrawn) {
      el.dataset.state = "withdrawn";
      el.textContent = `withdrawn by the host at ${r.withdrawn}: the signed record of ` +
        `${r.segments} segments (${r.duration.toFixed(1)} s) stays · key ${r.fingerprint}`;
      return;
    }
    el.dataset.state = "verified";
    el.textContent = `verified: ${r.segments} segments (${r.duration.toFixed(1)} s) are the ` +
      `signed live recording` + (r.checkpoints ? `, and match the ${r.checkpoints} ` +
      `checkpoint(s) you kept while live` : "") + ` · key ${r.fingerprint}`;
  } catch (err) {
    el.dataset.state = "not-verified";
    el.textContent = `not verified: ${err.message}`;
  }
}
