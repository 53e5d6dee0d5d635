"""Push sources on the HTTP port: `PUT` (or `POST`) `/ingest/<space>` with a chunked (or
sized) body, as an nginx edge forwards them to an origin.

An edge cannot forward Icecast's own framing (SOURCE, or a PUT with neither Content-Length
nor chunking: the body runs until the close, which HTTP proxies read as no body at all), so
through the edge a source pushes chunked HTTP: ffmpeg `-method PUT -f adts
http://source:KEY@edge/ingest/ID` (ffmpeg's http output is chunked by default), `curl -T -`,
`townhall broadcast`. The edge sends every source of a space to one origin (the consistent
hash of the space), where the same ingest session as on the ingest port takes the bytes, and
answers the same JSON. Thin: authorise, stream the body into the session, answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from townhall.errors import error_response
from townhall.ingest.http1 import HttpError, credentials
from townhall.ingest.icecast import guard, outcome
from townhall.live.errors import SpaceError
from townhall.live.sources.push_sources import PushSources
from townhall.live.sources.session import IngestSession, until_stopped

log = logging.getLogger("townhall.ingest")


async def _chunks(request: Request, idle_s: float) -> AsyncIterator[bytes]:
    """The body as it arrives; TimeoutError when nothing came for `idle_s`."""
    stream = request.stream().__aiter__()
    while True:
        try:
            data = await asyncio.wait_for(stream.__anext__(), idle_s)
        except StopAsyncIteration:
            return
        if data:
            yield data


async def _pump(request: Request, session: IngestSession,
                idle_s: float) -> dict[str, object] | None:
    """Feed the body to the session; an early end's answer, or None when it ran out."""
    async def consume() -> None:
        async for data in _chunks(request, idle_s):
            if session.closed or not await session.feed(data):
                break

    try:
        await until_stopped(session, consume())
    except TimeoutError:
        session.stop()
        return {"error": "source_idle", "detail": f"no audio received for {idle_s:g} s"}
    except ClientDisconnect:
        return {"error": "source_reset", "detail": "the source closed the connection"}
    finally:
        await session.close()
    return None


async def push(request: Request) -> Response:
    sources: PushSources = request.app.state.push_sources
    settings = sources.settings
    space_id = request.path_params["space_id"]
    try:
        creds = credentials(request.headers.get("authorization", ""))
        session = sources.open(space_id, creds[1] if creds else None)
    except HttpError as exc:
        return error_response(exc.status, "bad_request", exc.message)
    except SpaceError as exc:
        headers = {"WWW-Authenticate": 'Basic realm="townhall"'} if exc.status == 401 else None
        return error_response(exc.status, exc.code, exc.message, headers)
    log.info("source connected to %s (HTTP %s)", space_id, request.method,
             extra={"space_id": space_id})
    async with guard(request.app.state.source_watch, space_id, session):
        early = await _pump(request, session, settings.ingest.ingest_idle_timeout_s)
    log.log(logging.WARNING if early is not None or session.ended_by else logging.INFO,
            "source left %s: %s", space_id, early or session.ended_by or "done",
            extra={"space_id": space_id})
    if early is not None and early["error"] == "source_idle":
        return JSONResponse(early, status_code=408)
    status, payload = outcome(session, settings.media.sample_rate)
    if early is not None and status == 200:  # reset by the source: it left all the same
        return JSONResponse({**early, **session.losses()}, status_code=400)
    return JSONResponse(payload, status_code=status)


routes = [Route("/ingest/{space_id}", push, methods=["PUT", "POST"])]
