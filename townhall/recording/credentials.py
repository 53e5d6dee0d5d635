"""C2PA Content Credentials on the downloadable replay and on clips (c2pa-python).

Sans-IO (bytes in, bytes out; the C2PA SDK works on in-memory streams). The manifest says who
hosted, when it aired, that it is an unedited live recording (`c2pa.actions`: `c2pa.created`
with the digitalCapture source type), and binds itself to every byte of the file (the SDK's
BMFF hard binding). A townhall assertion `org.townhall.recording` carries the space, the
segment range and the signed recording manifest itself, so `townhall verify` checks a file
offline with nothing else (a recording too long for that, past about an hour and a half,
names its manifest by URL and its seal by signature instead: `MANIFEST_JSON_MAX`). The C2PA
box is a top-level `uuid` box after `ftyp`; the audio
boxes stay byte for byte what was published (`verify.split_media` sets the box aside).

Signed with the deployment's key and chain (`signing.py`): with the self-made CA, C2PA readers
report the signer as untrusted (`signingCredential.untrusted`) and the integrity as valid; a
certificate from a CA on the C2PA trust list makes it trusted (docs/record.md).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import c2pa

from townhall import __version__
from townhall.recording.signing import SigningIdentity

MIME = "audio/mp4"
# c2pa-python refuses a manifest definition over 1 MiB ("StringTooLong: manifest_json"); the
# recording's key seal carries the whole manifest, about 420 bytes a segment, so past about an
# hour and a half it cannot ride in the assertion: the assertion then names the seal by its
# signature and `townhall verify` reads the seal from `manifest_url` (or --manifest)
MANIFEST_JSON_MAX = 960 * 1024
ASSERTION = "org.townhall.recording"
CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"


@dataclass(frozen=True)
class Credentials:
    present: bool
    valid: bool  # the SDK's validation_state is Valid or Trusted
    trusted: bool
    problem: str  # the first failure code and explanation, or ""
    recording: dict[str, Any] | None  # the org.townhall.recording assertion

    @property
    def summary(self) -> str:
        if not self.present:
            return "absent"
        if not self.valid:
            return f"invalid ({self.problem})"
        return "valid" + ("" if self.trusted else " (signer untrusted)")


def sign(identity: SigningIdentity, media: bytes, *, title: str, host: str, aired: str | None,
         recording: dict[str, Any]) -> bytes:
    """`media` with a C2PA manifest: a new file whose audio boxes are unchanged."""
    manifest: dict[str, Any] = {
        "claim_generator_info": [{"name": "townhall", "version": __version__}],
        "title": title,
        "format": MIME,
        "assertions": [
            {"label": "c2pa.actions",
             "data": {"actions": [{
                 "action": "c2pa.created", "digitalSourceType": CAPTURE, "when": aired,
                 "softwareAgent": {"name": "townhall", "version": __version__},
                 "description": "Unedited recording of a live audio space: the segments "
                                "as published live, in order"}]}},
            {"label": "stds.schema-org.CreativeWork",
             "data": {"@context": "https://schema.org", "@type": "CreativeWork",
                      "name": title, "datePublished": aired,
                      "author": [{"@type": "Person", "name": host}]}},
            {"label": ASSERTION, "data": recording},
        ],
    }
    if len(json.dumps(manifest)) > MANIFEST_JSON_MAX:
        manifest["assertions"][-1]["data"] = by_reference(recording)
    info = c2pa.C2paSignerInfo(alg=b"es256", sign_cert=identity.chain_pem(),
                               private_key=identity.key_pem(), ta_url=None)
    signer = c2pa.Signer.from_info(info)
    out = io.BytesIO()
    with c2pa.Builder(json.dumps(manifest)) as builder:
        builder.sign(signer, MIME, io.BytesIO(media), out)
    signer.close()
    return out.getvalue()


def by_reference(recording: dict[str, Any]) -> dict[str, Any]:
    """The recording assertion without its key seal, which it names by its signature (a
    seal fetched from `manifest_url` must carry that same signature)."""
    seal = recording.get("key_seal") or {}
    out = {k: v for k, v in recording.items() if k != "key_seal"}
    out["key_seal"] = None
    out["key_seal_signature"] = seal.get("signature")
    return out


def read(media: bytes) -> Credentials:
    """What a C2PA reader says about `media` (absent when it carries no manifest)."""
    try:
        reader = c2pa.Reader(MIME, io.BytesIO(media))
    except c2pa.C2paError as exc:
        text = str(exc)
        if "ManifestNotFound" in text or "JumbfNotFound" in text or "no JUMBF" in text:
            return Credentials(False, False, False, "", None)
        return Credentials(True, False, False, text[:200], None)
    with reader:
        report = json.loads(reader.json())
    state = report.get("validation_state", "")
    active = report.get("manifests", {}).get(report.get("active_manifest", ""), {})
    recording = None
    for assertion in active.get("assertions", []):
        if assertion.get("label") == ASSERTION:
            recording = assertion.get("data")
    failures = report.get("validation_results", {}).get("activeManifest", {}).get(
        "failure", [])
    problems = [f"{f.get('code')}: {f.get('explanation')}" for f in failures
                if f.get("code") != "signingCredential.untrusted"]
    return Credentials(True, state in ("Valid", "Trusted"), state == "Trusted",
                       problems[0] if problems else "", recording)
