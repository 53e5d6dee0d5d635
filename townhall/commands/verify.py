"""`townhall verify`: checks a replay or a clip, offline, against the signed recording.

Edge: reads files or fetches URLs, then calls the sans-IO checks in `townhall/recording/`
(`verify.py`, `checkpoint.py`, `credentials.py`). One line on stdout, and the exit status:

    0  verified                       1  the media or a checkpoint differs (tampered)
    2  bad input (missing file, unreachable URL, not JSON)
    3  the signature does not hold, or is not by the expected key
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from townhall.recording import checkpoint, statement
from townhall.recording.signing import fingerprint, public_key_from_spki, unb64url
from townhall.recording.verify import Tampered, check_file, open_manifest

OK, TAMPERED, BAD_INPUT, BAD_SIGNATURE = 0, 1, 2, 3
FINGERPRINT_RE = re.compile(r"^[0-9a-f]{64}$")
REPLAY_URL_RE = re.compile(
    r"^(?P<base>.*)/replay/(?P<id>[A-Za-z0-9]+)(\.m4a|/clip.*|/media\.m3u8)?$")
MAP_RE = re.compile(r'#EXT-X-MAP:URI="([^"]+)"')


class Failure(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def read_source(source: str) -> bytes:
    if _is_url(source):
        try:
            res = httpx.get(source, follow_redirects=True, timeout=60)
        except httpx.HTTPError as exc:
            raise Failure(BAD_INPUT, f"cannot fetch {source}: {exc}") from None
        if res.status_code != 200:
            detail = res.text[:200].replace("\n", " ")
            raise Failure(BAD_INPUT, f"{source} answered {res.status_code}: {detail}")
        return res.content
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise Failure(BAD_INPUT, f"cannot read {source}: {exc.strerror}") from None


def _resolve(source: str, uri: str) -> str:
    if _is_url(source) or _is_url(uri):
        return urljoin(source, uri)
    return str(Path(source).parent / uri)


def read_media(source: str) -> bytes:
    """A file's bytes, or an HLS playlist's init section and segments joined in order (the
    replay's /replay/ID/media.m3u8, or a saved copy beside its segments)."""
    data = read_source(source)
    if not source.split("?")[0].endswith(".m3u8"):
        return data
    text = data.decode(errors="replace")
    init = MAP_RE.search(text)
    uris = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if init is None or not uris:
        raise Failure(BAD_INPUT, f"{source} is not a playlist of fMP4 segments")
    return b"".join(read_source(_resolve(source, uri)) for uri in [init[1], *uris])


def read_json(source: str) -> Any:
    try:
        return json.loads(read_source(source))
    except ValueError:
        raise Failure(BAD_INPUT, f"{source} is not JSON") from None


def _pinned_key(spec: str | None) -> tuple[ec.EllipticCurvePublicKey | None, str | None]:
    """(key, fingerprint) from --key: a fingerprint, a PEM public key, or the published JSON."""
    if spec is None:
        return None, None
    if FINGERPRINT_RE.match(spec.lower()):
        return None, spec.lower()
    raw = read_source(spec)
    try:
        if raw.lstrip().startswith(b"{"):
            key = public_key_from_spki(unb64url(json.loads(raw)["spki"]))
        else:
            loaded = serialization.load_pem_public_key(raw)
            if not isinstance(loaded, ec.EllipticCurvePublicKey):
                raise ValueError("not an EC key")
            key = loaded
    except (ValueError, KeyError, TypeError) as exc:
        raise Failure(BAD_INPUT, f"--key {spec}: not a P-256 public key ({exc})") from None
    return key, fingerprint(key)


def _key_for(seal: Any, pinned: tuple[ec.EllipticCurvePublicKey | None, str | None]
             ) -> ec.EllipticCurvePublicKey:
    key, want = pinned
    if key is not None:
        return key
    try:
        key = statement.embedded_key(seal)
    except statement.BadStatement as exc:
        raise Failure(BAD_SIGNATURE, str(exc)) from None
    if want is not None and fingerprint(key) != want:
        raise Failure(BAD_SIGNATURE, f"signed by key {fingerprint(key)[:16]}…, not by the "
                      f"expected {want[:16]}…")
    return key


def _default_manifest(source: str, embedded: dict[str, Any] | None) -> str | dict[str, Any]:
    if embedded is not None and embedded.get("key_seal"):
        return embedded
    if embedded is not None and embedded.get("key_seal_signature") and \
            isinstance(embedded.get("manifest_url"), str):
        return str(embedded["manifest_url"])  # too long to embed: named by URL and signature
    if _is_url(source):
        m = REPLAY_URL_RE.match(source.split("?")[0])
        if m:
            return f"{m['base']}/record/{m['id']}/manifest.json"
    raise Failure(BAD_INPUT, "give --manifest FILE|URL (the recording's signed manifest, "
                  "/record/ID/manifest.json)")


def run(args: argparse.Namespace) -> tuple[int, str]:
    data = read_media(args.replay)
    credentials = None
    try:
        from townhall.recording import credentials as c2pa_credentials
        credentials = c2pa_credentials.read(data)
    except ImportError:  # c2pa-python missing: the chain checks still stand on their own
        pass
    recording = credentials.recording if credentials is not None else None
    source = args.manifest or _default_manifest(args.replay, recording)
    doc = source if isinstance(source, dict) else read_json(source)
    if not isinstance(doc, dict):
        raise Failure(BAD_INPUT, "the manifest is not a JSON object")
    pinned = _pinned_key(args.key)
    named = recording.get("key_seal_signature") if recording is not None else None
    seal = doc.get("key_seal")
    if named and (not isinstance(seal, dict) or seal.get("signature") != named):
        raise Failure(TAMPERED, "the manifest is not the one this file was signed with (its "
                      "seal's signature differs from the one its Content Credentials name)")
    key = _key_for(seal, pinned)
    try:
        manifest = open_manifest(doc, key)
    except statement.BadStatement as exc:
        raise Failure(BAD_SIGNATURE, str(exc)) from None
    first = last = None
    if recording is not None and recording.get("first_msn") is not None:
        first, last = int(recording["first_msn"]), int(recording["last_msn"])
    try:
        result = check_file(manifest, data, first, last)
    except Tampered as exc:
        raise Failure(TAMPERED, str(exc)) from None
    if credentials is not None and credentials.present and not credentials.valid:
        raise Failure(TAMPERED, f"the C2PA Content Credentials do not validate: "
                      f"{credentials.problem}")
    for path in args.checkpoint or []:
        cp = read_json(path)
        try:
            body = checkpoint.open_checkpoint(cp, key)
        except statement.BadStatement as exc:
            raise Failure(BAD_SIGNATURE, f"checkpoint {path}: {exc}") from None
        try:
            checkpoint.check_against(body, manifest)
        except ValueError as exc:
            raise Failure(TAMPERED, str(exc)) from None
    what = "clip" if first is not None else "replay"
    pin = "" if pinned != (None, None) else " (key not pinned: compare with the published one)"
    c2pa_note = ""
    if credentials is not None and credentials.present:
        c2pa_note = f", C2PA {credentials.summary}"
    return OK, (f"verified: {what} of space {result.space_id}, segments {result.first_msn}-"
                f"{result.last_msn} ({result.segments}, {result.duration:.2f} s), "
                f"{len(args.checkpoint or [])} checkpoint(s), key {fingerprint(key)[:16]}…"
                f"{pin}{c2pa_note}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("replay", help="the replay or clip (.m4a file or URL), or the "
                                       "replay's playlist (/replay/ID/media.m3u8)")
    parser.add_argument("--manifest", default=None,
                        help="the signed manifest, FILE or URL (default: the one the file "
                             "carries, or /record/ID/manifest.json next to a replay URL)")
    parser.add_argument("--checkpoint", action="append", metavar="FILE|URL",
                        help="a live checkpoint you kept (repeat)")
    parser.add_argument("--key", default=None, metavar="FINGERPRINT|FILE|URL",
                        help="the deployment's key: its fingerprint, a PEM public key, or "
                             "/.well-known/townhall-signing.json")


def command(args: argparse.Namespace) -> int:
    try:
        status, line = run(args)
    except Failure as exc:
        status, line = exc.status, ("NOT VERIFIED: " if exc.status in (TAMPERED, BAD_SIGNATURE)
                                    else "verify: ") + str(exc)
    print(line)
    return status
