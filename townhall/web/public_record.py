"""The public record of a recording: signing key, sealed manifest, live checkpoints, withdrawal.

Edge: thin routes over `townhall/recording/`. Everything here is public and cacheable: the key
and a sealed manifest never change; the latest checkpoint changes every segment (one-second
cache, like the details); checkpoints by number are immutable. These stay up after the host
withdraws the replay: the record is what proves a recording existed and was not edited. Under
/record/ID (not /live, which needs tickets; not /replay, which a withdrawal answers with 410),
so an edge caches them like replays (`edge_config`: `^/(replay|spaces|record)/ID`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from townhall.delivery import cache
from townhall.errors import StoreUnavailable
from townhall.live.errors import SpaceError, bad_key
from townhall.live.registry.spaces import LiveSpace, Spaces
from townhall.recording import withdrawal
from townhall.recording.recorder import Recorder
from townhall.recording.signing import SigningIdentity
from townhall.space.lifecycle import Phase
from townhall.store.base import RecordingStore
from townhall.web.errors import error_response
from townhall.web.ranged import ranged_bytes, strong_etag
from townhall.web.space_documents import SpaceDocuments

WELL_KNOWN = "/.well-known/townhall-signing.json"
LATEST = "public, max-age=1, stale-while-revalidate=5, stale-if-error=86400"
JSON = "application/json"
log = logging.getLogger("townhall.record")


def _json(request: Request, body: Any, cache_control: str) -> Response:
    """A public document with a strong ETag: a verifier revalidates it (304), like the
    replay's bytes (`web/ranged.py`)."""
    data = json.dumps(body).encode()
    return ranged_bytes(request, data, strong_etag(data), JSON,
                        {"Cache-Control": cache_control})


def _spaces(request: Request) -> Spaces:
    spaces: Spaces = request.app.state.spaces
    return spaces


def _documents(request: Request) -> SpaceDocuments:
    documents: SpaceDocuments = request.app.state.documents
    return documents


def _identity(request: Request) -> SigningIdentity:
    identity = _documents(request).identity
    if identity is None:
        raise SpaceError(404, "no_signing_key", "this deployment does not sign its recordings")
    return identity


def _space(request: Request) -> tuple[LiveSpace, RecordingStore]:
    spaces = _spaces(request)
    return spaces.get(request.path_params["space_id"]), spaces.recordings


def _recorder(space: LiveSpace) -> Recorder | None:
    return space.program.recorder if space.program is not None else None


async def signing_key(request: Request) -> Response:
    base = _spaces(request).settings.listen.base_url
    return _json(request, _identity(request).public_document(f"{base}{WELL_KNOWN}"),
                 "public, max-age=3600, stale-while-revalidate=86400, stale-if-error=604800")


async def manifest(request: Request) -> Response:
    space, store = _space(request)
    rec = _recorder(space)
    sealed = rec.manifest if rec is not None and rec.manifest and rec.manifest.complete \
        else await asyncio.to_thread(store.manifest, space.record.id)
    if sealed is None or not sealed.complete:
        raise SpaceError(404, "not_sealed", "the manifest is sealed and published when the "
                         "space ends; while live, keep the checkpoints")
    return _json(request, sealed.to_dict(), cache.IMMUTABLE)


async def _all_checkpoints(space: LiveSpace, store: RecordingStore) -> list[dict[str, str]]:
    return await asyncio.to_thread(store.checkpoints, space.record.id)


async def latest_checkpoint(request: Request) -> Response:
    space, store = _space(request)
    rec = _recorder(space)
    if rec is not None and rec.checkpoints:
        doc = next(reversed(rec.checkpoints.values()))
    else:  # recorded on another origin, or before a restart: the newest in the store
        stored = await asyncio.to_thread(store.checkpoint, space.record.id, None)
        if stored is None:
            raise SpaceError(404, "no_checkpoint", "no segment has been published yet")
        doc = stored
    ended = space.record.phase is Phase.ENDED
    return _json(request, doc, cache.IMMUTABLE if ended else LATEST)


async def checkpoint_by_number(request: Request) -> Response:
    space, store = _space(request)
    try:
        msn = int(request.path_params["msn"])
    except ValueError:
        return error_response(404, "not_found", "a checkpoint is named by its segment number")
    rec = _recorder(space)
    if rec is not None and msn in rec.checkpoints:
        return _json(request, rec.checkpoints[msn], cache.IMMUTABLE)
    doc = await asyncio.to_thread(store.checkpoint, space.record.id, msn)
    if doc is not None:
        return _json(request, doc, cache.IMMUTABLE)
    return error_response(404, "no_checkpoint", f"no checkpoint was signed at segment {msn}",
                          {"Cache-Control": "public, max-age=2"})


async def all_checkpoints(request: Request) -> Response:
    space, store = _space(request)
    docs = await _all_checkpoints(space, store)
    ended = space.record.phase is Phase.ENDED
    return _json(request, {"space_id": space.record.id, "checkpoints": docs},
                 cache.ended_playlist() if ended else LATEST)


async def record_status(request: Request) -> Response:
    space, store = _space(request)
    spaces = _spaces(request)
    base, sid = spaces.settings.listen.base_url, space.record.id
    sealed = await asyncio.to_thread(store.manifest, sid)
    withdrawn = await asyncio.to_thread(store.withdrawal, sid)
    state = ("withdrawn" if withdrawn else "published" if sealed and sealed.complete
             else "live" if space.record.phase is Phase.LIVE else "none")
    return _json(request, {
        "space_id": sid, "state": state, "withdrawal": withdrawn,
        "duration_s": round(sealed.duration, 3) if sealed else None,
        "segments": len(sealed.segments) if sealed else None,
        "manifest_url": f"{base}/record/{sid}/manifest.json",
        "checkpoints_url": f"{base}/record/{sid}/checkpoints.json",
        "latest_checkpoint_url": f"{base}/record/{sid}/checkpoints/latest.json",
        "signing_key": _documents(request).signing_key()}, LATEST)


async def withdrawn_replay(request: Request, space_id: str) -> None:
    """Raise 410 if the host withdrew this replay, on this origin or another (read through
    the store until it is withdrawn, then from memory)."""
    withdrawn: dict[str, dict[str, Any]] = request.app.state.withdrawn
    doc = withdrawn.get(space_id)
    if doc is None:
        doc = await asyncio.to_thread(_spaces(request).recordings.withdrawal, space_id)
        if doc is None:
            return
        withdrawn[space_id] = doc
    raise SpaceError(410, "replay_withdrawn", withdrawal.detail(doc))


async def withdraw_replay(request: Request) -> Response:
    """DELETE /api/spaces/ID/replay (host key): the replay answers 410 from now on."""
    space, store = _space(request)
    sid = space.record.id
    auth = request.headers.get("authorization", "")
    key = auth[7:].strip() if auth.lower().startswith("bearer ") else None
    if not _spaces(request).keys.ok(space, key):
        raise bad_key()
    sealed = await asyncio.to_thread(store.manifest, sid)
    if sealed is None or not sealed.complete:
        raise SpaceError(409, "no_replay", "only a published replay can be withdrawn")
    existing = await asyncio.to_thread(store.withdrawal, sid)
    if existing is not None:
        await _announce_withdrawal(request, space, existing)  # queued once, whoever asks
        return JSONResponse(existing, headers={"Cache-Control": cache.NO_STORE})
    made = withdrawal.make(sealed, time.time(), _documents(request).identity)
    # its announcement is held first (reach/outbox.py): if this origin stops before queueing
    # it, another origin (or this one's restart) queues it from the stored withdrawal
    await request.app.state.space_watch.withdrawing(space)
    await asyncio.to_thread(store.put_withdrawal, sid, made)
    # the store keeps the first withdrawal: answer with it if another origin was first
    doc = await asyncio.to_thread(store.withdrawal, sid) or made
    request.app.state.withdrawn[sid] = doc
    request.app.state.replays.pop(sid, None)
    space.record.has_replay = False  # the details drop the replay links
    space.status = None
    await asyncio.to_thread(_spaces(request).store.save, space.record)
    await _announce_withdrawal(request, space, doc)
    return JSONResponse(doc, headers={"Cache-Control": cache.NO_STORE})


async def _announce_withdrawal(request: Request, space: LiveSpace, doc: dict[str, Any]) -> None:
    """Queue replay.withdrawn before answering (reach/space_watch.py). A store that is away
    now leaves it to the outbox: the hold lapses and an origin that looks queues it."""
    try:
        await request.app.state.space_watch.withdrawn(space, doc)
    except StoreUnavailable as exc:
        log.warning("replay.withdrawn of %s not queued now (%s): recovered from the outbox",
                    space.record.id, exc)


routes = [
    Route(WELL_KNOWN, signing_key),
    Route("/record/{space_id}", record_status),
    Route("/record/{space_id}/manifest.json", manifest),
    Route("/record/{space_id}/checkpoints.json", all_checkpoints),
    Route("/record/{space_id}/checkpoints/latest.json", latest_checkpoint),
    Route("/record/{space_id}/checkpoints/{msn}.json", checkpoint_by_number),
    Route("/api/spaces/{space_id}/replay", withdraw_replay, methods=["DELETE"]),
]
