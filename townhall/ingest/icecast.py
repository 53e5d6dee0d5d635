"""The source edge: an asyncio server that takes Icecast-style pushes into a space.

Accepts `PUT`/`SOURCE /ingest/<space>` with Basic auth `source:<host key>` (or a Bearer key),
bodies that are chunked, sized, or (Icecast/ffmpeg style) running until the close. Thin:
parse the head, authorise through the space service, stream bytes into the ingest session,
answer with JSON. Never decodes or mixes audio itself. (The same pushes, chunked, also come
in on the HTTP port at /ingest/<space>, where an nginx edge forwards them:
`townhall.ingest.http_push`.) In a cluster with an edge, a push here is not taken here but
relayed through the edge (`townhall.ingest.relay`), to the origin that takes the space's
sources; the client sees the same answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator

from townhall.ingest.http1 import (
    ChunkedDecoder,
    HttpError,
    RequestHead,
    is_blank_line,
    response,
)
from townhall.ingest.relay import SourceRelay
from townhall.live.errors import SpaceError
from townhall.live.sources.push_sources import PushSources
from townhall.live.sources.session import IngestSession
from townhall.live.sources.source_watch import SourceWatch
from townhall.settings import Settings

log = logging.getLogger("townhall.ingest")
READ_SIZE = 64 * 1024
METADATA_OK = (b"<?xml version=\"1.0\"?>\n<iceresponse><message>Metadata update successful"
               b"</message><return>1</return></iceresponse>\n")
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
           405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict",
           413: "Payload Too Large", 415: "Unsupported Media Type", 501: "Not Implemented",
           503: "Service Unavailable"}


def _json(status: int, payload: dict[str, object], version: str = "HTTP/1.1") -> bytes:
    extra = {"WWW-Authenticate": 'Basic realm="townhall"'} if status == 401 else None
    return response(status, REASONS.get(status, "Error"), json.dumps(payload).encode(),
                    version=version, extra=extra)


def outcome(session: IngestSession, sample_rate: int) -> tuple[int, dict[str, object]]:
    """The answer to a push that ended: why it ended, or what was decoded and lost."""
    if session.ended_by == "taken_over":
        return 409, {"error": "taken_over",
                     "detail": "a newer source with this space's key took over"}
    if session.ended_by == "key_rotated":
        return 401, {"error": "key_rotated",
                     "detail": "the host rotated the key; reconnect with the new one"}
    if session.ended_by == "moved":
        return 503, {"error": "program_moved",
                     "detail": "the space's program runs on another origin: reconnect "
                               "through the edge", **session.losses()}
    if session.closed and not session.started and session.bytes_in == 0:
        # (before the decoder's verdict: nothing to decode is not undecodable audio; the
        # relay's preflight, an empty push, relies on this answer)
        return 400, {"error": "empty_body", "detail": "no audio bytes were pushed"}
    if session.error is not None:
        return 415, {"error": "undecodable_audio", "detail": session.error}
    decoded = session.decoder.samples / sample_rate
    return 200, {"status": "ok", "format": session.decoder.format_name,
                 "codec": session.decoder.codec_name,
                 "seconds_decoded": round(decoded, 3), **session.losses(),
                 "bytes": session.bytes_in}


def guard(watch: SourceWatch | None, space_id: str,
          session: IngestSession) -> contextlib.AbstractAsyncContextManager[None]:
    """The cluster's watch over a push session (one source on air per space), if any."""
    return watch.guard(space_id, session) if watch is not None else contextlib.nullcontext()


class IngestServer:
    def __init__(self, settings: Settings, sources: PushSources,
                 watch: SourceWatch | None = None) -> None:
        self.settings = settings
        self.sources = sources
        self.watch = watch  # in a cluster: one source on air per space (live.source_watch)
        self.relay = SourceRelay.from_settings(settings)  # in a cluster with an edge
        self._server: asyncio.Server | None = None
        self.connections = 0  # open now; past settings.ingest_max_connections: a fast 503
        self.refused = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.settings.host,
                                                  self.settings.ingest_port,
                                                  limit=self.settings.ingest_max_header_bytes)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.connections >= self.settings.ingest_max_connections:
            self.refused += 1
            writer.write(_json(503, {"error": "overloaded",
                                     "detail": "too many ingest connections; retry soon"}))
            writer.close()
            return
        self.connections += 1
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:
            log.exception("ingest connection failed")
        finally:
            self.connections -= 1
            writer.close()

    async def _read_head(self, reader: asyncio.StreamReader) -> RequestHead:
        try:
            raw = await asyncio.wait_for(self._head_bytes(reader),
                                         self.settings.ingest_header_timeout_s)
        except TimeoutError:
            raise HttpError(408, "request head not received in time") from None
        except asyncio.LimitOverrunError:
            raise HttpError(413, "request head too large") from None
        except asyncio.IncompleteReadError:
            raise ConnectionError("closed before the request head ended") from None
        return RequestHead.parse(raw)

    async def _head_bytes(self, reader: asyncio.StreamReader) -> bytes:
        """The request head up to its empty line; lines may end in CRLF or a bare LF."""
        raw = bytearray()
        while True:
            line = await reader.readuntil(b"\n")
            if is_blank_line(line):
                if raw:
                    return bytes(raw)
                continue  # rfc9112 §2.2: ignore empty lines before the request line
            raw += line
            if len(raw) > self.settings.ingest_max_header_bytes:
                raise asyncio.LimitOverrunError("request head too large", len(raw))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await self._read_head(reader)
            if head.method == "GET":  # a metadata update: titles are not carried; say OK
                writer.write(response(200, "OK", METADATA_OK, content_type="text/xml"))
                await writer.drain()
                return
            space_id = _space_from_target(head.target)
            if self.relay is not None:
                if not self.relay.proven(head.headers):
                    await self._relay(head, space_id, reader, writer)
                    return
                log.warning("a relayed source reached the ingest port: taken here (point "
                            "ingest_relay_url at the edge, not at an ingest port)")
            creds = head.credentials()
            session = self.sources.open(space_id, creds[1] if creds else None)
            framing, length = head.body()
        except HttpError as exc:
            writer.write(_json(exc.status, {"error": "bad_request", "detail": exc.message}))
            await writer.drain()
            return
        except SpaceError as exc:
            writer.write(_json(exc.status, {"error": exc.code, "detail": exc.message}))
            await writer.drain()
            return

        version = "HTTP/1.0" if head.method == "SOURCE" else "HTTP/1.1"
        if head.method == "SOURCE":
            writer.write(b"HTTP/1.0 200 OK\r\n\r\n")  # legacy Icecast: OK first, then audio
        elif head.headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()
        log.info("source connected to %s (%s, %s body)", space_id, head.method, framing,
                 extra={"space_id": space_id})

        async with guard(self.watch, space_id, session):
            status, payload = await self._pump(reader, session, framing, length)
        # audio dropped, or the connection reset: worth a warning (seen at --log-level warning)
        lost = bool(payload.get("seconds_dropped")) or status == 499
        log.log(logging.WARNING if lost else logging.INFO, "source left %s: %s %s",
                space_id, status, payload, extra={"space_id": space_id})
        if head.method != "SOURCE" and status != 499:
            writer.write(_json(status, payload, version))
            await writer.drain()

    async def _relay(self, head: RequestHead, space_id: str, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        """Carry the push through the edge; answer the client as if it had been taken here."""
        assert self.relay is not None
        try:
            framing, length = head.body()
        except HttpError as exc:
            writer.write(_json(exc.status, {"error": "bad_request", "detail": exc.message}))
            await writer.drain()
            return
        told = False

        async def go_ahead() -> None:
            nonlocal told
            told = True
            if head.method == "SOURCE":
                writer.write(b"HTTP/1.0 200 OK\r\n\r\n")
            elif head.headers.get("expect", "").lower() == "100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
            log.info("source connected to %s (%s, %s body), relayed through the edge",
                     space_id, head.method, framing, extra={"space_id": space_id})

        body = body_chunks(reader, framing, length, self.settings.ingest_idle_timeout_s)
        async with contextlib.aclosing(body):
            status, payload = await self.relay.carry(
                space_id, head.headers.get("authorization", ""), body, go_ahead)
        if status == 499 or (told and head.method == "SOURCE"):
            return  # reset by the client; or legacy Icecast, answered "OK" already
        writer.write(_json(status, payload))
        await writer.drain()

    async def _pump(self, reader: asyncio.StreamReader, session: IngestSession, framing: str,
                    length: int | None) -> tuple[int, dict[str, object]]:
        body = body_chunks(reader, framing, length, self.settings.ingest_idle_timeout_s)
        try:
            async with contextlib.aclosing(body):
                async for data in body:
                    if session.closed or not await session.feed(data):
                        break
        except TimeoutError:
            return 408, {"error": "source_idle",
                         "detail": "no audio received for "
                                   f"{self.settings.ingest_idle_timeout_s:g} s"}
        except ConnectionError as exc:  # reset by the source: it left all the same
            return 499, {"error": "source_reset", "detail": str(exc) or "reset",
                         **session.losses()}
        except HttpError as exc:
            session.stop()
            return exc.status, {"error": "bad_request", "detail": exc.message}
        finally:
            await session.close()
        return outcome(session, self.settings.sample_rate)


async def body_chunks(reader: asyncio.StreamReader, framing: str, length: int | None,
                      idle_s: float) -> AsyncGenerator[bytes, None]:
    """A push's body as it arrives, unframed (chunked, sized, or until the close): at most
    one read ahead of the consumer. TimeoutError when nothing came for `idle_s`;
    ConnectionError when the client reset; HttpError on bad chunking."""
    chunked = ChunkedDecoder() if framing == "chunked" else None
    remaining = length
    while True:
        want = READ_SIZE if remaining is None else min(READ_SIZE, remaining)
        if want == 0:
            return
        data = await asyncio.wait_for(reader.read(want), idle_s)
        if not data:
            return
        if remaining is not None:
            remaining -= len(data)
        if chunked is not None:
            data = chunked.feed(data)
        if data:
            yield data
        if chunked is not None and chunked.done:
            return


def _space_from_target(target: str) -> str:
    path = target.split("?", 1)[0].rstrip("/")
    parts = path.split("/")
    if len(parts) == 3 and parts[1] == "ingest" and parts[2]:
        return parts[2]
    raise HttpError(404, f"no ingest mount at {path!r}: push to /ingest/<space id>")
