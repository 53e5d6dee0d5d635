"""The downloadable replay and clips, with C2PA Content Credentials.

Edge. `/replay/ID.m4a` is every published segment's AAC access units, byte for byte and in
order, re-muxed into a progressive MP4 with its true duration and a full index
(`recording/download.py`), so players seek it and answer Range requests, plus one C2PA box
(`recording/credentials.py`) signed with the deployment's key. It is built once, in a thread,
from the RecordingStore when first asked for (the C2PA SDK signs an hour's progressive file in
about 0.14 s; a fragmented one took 20-70 s). Signing is not deterministic, so the first
origin to sign keeps its bytes in the RecordingStore (`put_download`) and every origin serves
those: the same URL is the same bytes everywhere, with one ETag (its SHA-256), and a download
resumed with Range on another origin fits. Each origin serves them from its own copy
(<data_dir>/signed-replays/ID.c2pa.m4a).
A clip is the access units of the segments from one number to another (whole segments: the
chain is over whole segments), with its own C2PA manifest carrying the range and the signed
recording manifest, so `townhall verify CLIP` proves it an unaltered excerpt. Clips live at
a path, not a query (`/replay/ID/clip/FIRST-LAST.m4a`), because edges cache replays by path;
`/replay/ID/clip?from=S&to=S` (seconds) answers with a redirect to the segments it covers.

A clip path has one spelling, checked on the path as sent (`raw_path`) before anything else:
before the store is asked whether the replay was withdrawn, and before the per-address budget
that signing is paid from. Leading zeros, signs, extra dots or dashes, a percent-encoded
character anywhere in the path, or a query are answered 400 with the problem named (and the
canonical path where there is one), counted (`clip_path_refused`), and cost no budget: only
a real clip of a sealed replay spends it. Edges ask origins in canonical forms only, so no
legitimate request is refused.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from townhall.delivery import cache
from townhall.delivery.canonical import CLIP_QUERY_RE, CLIP_RANGE, CLIP_RANGE_RE
from townhall.live.errors import SpaceError
from townhall.live.registry.spaces import Spaces
from townhall.recording import credentials
from townhall.recording.download import progressive
from townhall.recording.manifest import RecordingManifest
from townhall.space.space_record import iso
from townhall.store.base import RecordingStore
from townhall.web.client_ip import client_address
from townhall.web.errors import error_response
from townhall.web.media import sealed_replay
from townhall.web.ranged import ranged_bytes, ranged_file, strong_etag
from townhall.web.space_documents import SpaceDocuments

SIGNED = "signed-replays"  # under data_dir: this origin's cache of replays with credentials
_building: dict[str, asyncio.Task[None]] = {}


def _spaces(request: Request) -> Spaces:
    spaces: Spaces = request.app.state.spaces
    return spaces


def _stored(data: bytes | None, what: str) -> bytes:
    if data is None:
        raise SpaceError(404, "no_replay", f"the recording's {what} is missing")
    return data


def _media(store: RecordingStore, manifest: RecordingManifest, first: int, last: int) -> bytes:
    sid = manifest.space_id
    init = _stored(store.init(sid), "init section")
    segments = [_stored(store.segment(sid, e), f"segment {e.msn}") for e in manifest.segments
                if first <= e.msn <= last]
    return progressive(init, segments)


def _signed(request: Request, store: RecordingStore, manifest: RecordingManifest, first: int,
            last: int, clip: bool) -> bytes:
    spaces = _spaces(request)
    space = spaces.get(manifest.space_id)
    media = _media(store, manifest, first, last)
    documents: SpaceDocuments = request.app.state.documents
    identity = documents.identity
    if identity is None or not spaces.settings.recording.content_credentials:
        return media
    base = spaces.settings.listen.base_url
    recording: dict[str, Any] = {
        "space_id": manifest.space_id, "host": space.record.host, "title": space.record.title,
        "aired": iso(space.record.actual_start), "ended": iso(space.record.ended_at),
        "manifest_url": f"{base}/record/{manifest.space_id}/manifest.json",
        "key_fingerprint": identity.fingerprint, "head": manifest.head,
        "first_msn": first if clip else None, "last_msn": last if clip else None,
        "key_seal": manifest.key_seal}
    title = space.record.title + (f" (clip, segments {first}-{last})" if clip else "")
    return credentials.sign(identity, media, title=title, host=space.record.host,
                            aired=iso(space.record.actual_start), recording=recording)


def _cached(request: Request, space_id: str) -> Path:
    return _spaces(request).settings.store.data_dir / SIGNED / f"{space_id}.c2pa.m4a"


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _kept(request: Request, store: RecordingStore, manifest: RecordingManifest) -> bytes:
    """The download every origin serves: the one kept in the store, or sign one and keep it
    (another origin signing at the same moment: the first kept wins, on both)."""
    sid = manifest.space_id
    data = store.download(sid)
    if data is None:
        first, last = manifest.segments[0].msn, manifest.segments[-1].msn
        data = store.put_download(sid, _signed(request, store, manifest, first, last, False))
    return data


async def _build(request: Request, store: RecordingStore, manifest: RecordingManifest,
                 path: Path) -> None:
    data = await asyncio.to_thread(_kept, request, store, manifest)
    await asyncio.to_thread(_write, path, data)
    await asyncio.to_thread(_write, _etag_path(path), strong_etag(data).encode())


def _etag_path(path: Path) -> Path:
    return path.with_name(path.name + ".etag")


def _file_and_tag(path: Path) -> tuple[int, str]:
    return path.stat().st_size, _etag_path(path).read_text()


async def signed_download(request: Request, store: RecordingStore,
                          manifest: RecordingManifest) -> tuple[Path, int, str]:
    """This origin's file of the signed replay, its byte length and ETag; built once,
    however many ask at the same moment (the download, the podcast feed)."""
    sid = manifest.space_id
    path = _cached(request, sid)
    if not path.exists() or not _etag_path(path).exists():
        task = _building.get(sid)
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(_build(request, store, manifest, path))
            _building[sid] = task
            task.add_done_callback(lambda _t: _building.pop(sid, None))
        await asyncio.shield(task)
    size, etag = await asyncio.to_thread(_file_and_tag, path)
    return path, size, etag


async def replay_download(request: Request) -> Response:
    """The seekable, signed `.m4a`: built once per origin (shared by concurrent requests),
    then answered from the file (Range, If-None-Match, If-Range: `web/ranged.py`)."""
    store, manifest = await sealed_replay(request)
    sid = manifest.space_id
    path, size, etag = await signed_download(request, store, manifest)
    return ranged_file(request, path, size, etag, "audio/mp4", {
        "Cache-Control": cache.IMMUTABLE,
        "Content-Disposition": f'attachment; filename="townhall-{sid}.m4a"'})


class SignedClips:
    """Signed clips kept in memory, least recently used out past `limit` bytes, and signed
    once however many ask at the same moment. C2PA signing is not deterministic: without
    this, every Range request of one player would get other bytes under another ETag."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.evicted = 0
        self._kept: OrderedDict[tuple[str, int, int], tuple[bytes, str]] = OrderedDict()
        self._signing: dict[tuple[str, int, int], asyncio.Task[tuple[bytes, str]]] = {}

    def get(self, key: tuple[str, int, int]) -> tuple[bytes, str] | None:
        found = self._kept.get(key)
        if found is not None:
            self._kept.move_to_end(key)
        return found

    def _keep(self, key: tuple[str, int, int], data: bytes) -> tuple[bytes, str]:
        kept = (data, strong_etag(data))
        if len(data) <= self.limit and key not in self._kept:
            self._kept[key] = kept
            self.size += len(data)
            while self.size > self.limit:
                _, (old, _tag) = self._kept.popitem(last=False)
                self.size -= len(old)
                self.evicted += 1
        return kept

    async def sign(self, key: tuple[str, int, int],
                   make: Callable[[], bytes]) -> tuple[bytes, str]:
        task = self._signing.get(key)
        if task is None:
            async def run() -> tuple[bytes, str]:
                return self._keep(key, await asyncio.to_thread(make))
            task = asyncio.get_running_loop().create_task(run())
            self._signing[key] = task
            task.add_done_callback(lambda _t: self._signing.pop(key, None))
        return await asyncio.shield(task)


def _clips(request: Request) -> SignedClips:
    clips: SignedClips = request.app.state.signed_clips
    return clips


def _bad_range(detail: str) -> Response:
    return error_response(400, "bad_clip_range", detail)


async def clip_by_time(request: Request) -> Response:
    """?from=S&to=S (seconds from the start): redirect to the whole segments covering it.
    The redirect is cached by its query (edge_config `_clip_by_time`), so the query has one
    spelling (townhall.delivery.canonical): `from=2.5&to=5`, never `to=5&from=2.50`."""
    query = CLIP_QUERY_RE.fullmatch(request.scope["query_string"].decode("latin-1"))
    if query is None:  # refused before the store is asked anything
        return _bad_range("give from and to, in this order, in seconds from the start of the "
                          "replay, without sign, exponent or trailing zeros: "
                          "clip?from=2.5&to=5")
    _, manifest = await sealed_replay(request)
    start, end = float(query["start"]), float(query["end"])
    total = manifest.duration
    if not (0 <= start < end) or start >= total:
        return _bad_range(f"need 0 <= from < to and from < {total:.2f} (the replay's length)")
    first = last = None
    at = 0.0
    for entry in manifest.segments:
        if first is None and at + entry.duration > start:
            first = entry.msn
        if first is not None and at < end:
            last = entry.msn
        at += entry.duration
    assert first is not None and last is not None
    sid = request.path_params["space_id"]
    return RedirectResponse(f"/replay/{sid}/clip/{first}-{last}.m4a", status_code=302,
                            headers={"Cache-Control": cache.IMMUTABLE})


CLIP_PATH_RE = re.compile(rf"/replay/(?P<space>[a-z0-9]{{1,64}})/clip/{CLIP_RANGE}\.m4a")
CLIP_FORM = ("a clip is /replay/ID/clip/FIRST-LAST.m4a (segment numbers, in decimal without "
             "leading zeros or signs)")


def _clip_spelling(request: Request) -> tuple[int, int] | Response:
    """The clip's segment numbers if the path as sent is the one spelling of it; else the
    400 answer naming the problem. No I/O, no budget: the first thing a clip request meets."""
    scope = request.scope
    raw = bytes(scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    sid, spelled = request.path_params["space_id"], request.path_params["range"]
    counters = request.app.state.admissions.counters
    shown = f"/replay/{sid}/clip/{spelled}.m4a"
    problem = None
    if scope["query_string"]:
        problem = "a clip path takes no query"
    elif "%" in raw:
        problem = "a clip path has no percent-encoded character"
    else:
        whole = CLIP_PATH_RE.fullmatch(raw)
        if whole is not None:
            return int(whole["first"]), int(whole["last"])
        problem = "a space id is lowercase letters and digits"
    counters["clip_path_refused"] += 1
    if CLIP_RANGE_RE.fullmatch(spelled) is None:  # the numbers themselves: 01-2, +1-2, 1-2.
        return _bad_range(CLIP_FORM)
    return error_response(400, "non_canonical_path", f"{problem}; ask {shown} ({CLIP_FORM})")


async def clip(request: Request) -> Response:
    spelling = _clip_spelling(request)
    if isinstance(spelling, Response):
        return spelling
    first, last = spelling
    store, manifest = await sealed_replay(request)
    sid = manifest.space_id
    headers = {"Cache-Control": cache.IMMUTABLE,
               "Content-Disposition": f'attachment; filename="townhall-{sid}-{first}-{last}.m4a"'}
    clips = _clips(request)
    kept = clips.get((sid, first, last))
    if kept is not None:  # a player's next Range request: the same bytes, no signing
        return ranged_bytes(request, kept[0], kept[1], "audio/mp4", headers)
    numbers = [e.msn for e in manifest.segments]
    if first > last or first not in numbers or last not in numbers:
        return _bad_range(f"segments {first}-{last} are not in the replay "
                          f"(it has {numbers[0]}-{numbers[-1]})")
    count = numbers.index(last) - numbers.index(first) + 1
    limit = _spaces(request).settings.recording.max_clip_segments
    if count > limit:
        return _bad_range(f"a clip is at most {limit} segments; this one is {count}")
    # signing a clip costs CPU (C2PA): its own budget per address and network (a clip kept
    # in memory above, and every refused spelling, cost none of it); edges cache the result
    admissions = request.app.state.admissions
    ok, wait = await admissions.clip_limits.allow(
        client_address(request.scope, request.app.state.trusted), time.monotonic())
    if not ok:
        admissions.counters["rate_limited"] += 1
        retry = max(1, int(wait + 0.999))
        return error_response(429, "rate_limited", f"too many clips; retry in {retry} s",
                              {"Retry-After": str(retry)})
    data, etag = await clips.sign((sid, first, last), lambda: _signed(
        request, store, manifest, first, last, True))
    return ranged_bytes(request, data, etag, "audio/mp4", headers)


routes = [
    Route("/replay/{space_id}.m4a", replay_download),
    Route("/replay/{space_id}/clip", clip_by_time),
    Route("/replay/{space_id}/clip/{range}.m4a", clip),
]
