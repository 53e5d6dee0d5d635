"""The source edge: an asyncio server that takes Icecast-style pushes into a space.

Accepts `PUT`/`SOURCE /ingest/<space>` with Basic auth `source:<host key>` (or a Bearer key),
bodies that are chunked, sized, or (Icecast/ffmpeg style) running until the close. Thin:
parse the head, authorise through the space service, stream bytes into the ingest session,
answer with JSON. Never decodes or mixes audio itself. (The same pushes, chunked, also come
in on the HTTP port at /ingest/<space>, where an nginx edge forwards them:
`townhall.ingest.http_push`.) In a cluster with an edge, a push here is not taken here but
relayed through the edge (`townhall.ingest.relay`), to the origin that takes the space's
sources; the client sees the same answers.

Connections are held by the rules of `ingest.pool` (a per-network share; idle, unauthorised
holders are evicted before a source with a key is refused), and an unauthorised connection
has `ingest_header_timeout_s` to send its head. Refusals are readable: every answer is sent,
the connection half-closed and what the client still sends drained for up to
`ingest_linger_s` before the close (as nginx's lingering close), so a client that is still
pushing reads `key_rotated` or `origin_full` instead of a TCP reset.
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
from townhall.ingest.pool import IngestPool
from townhall.ingest.relay import SourceRelay
from townhall.live.errors import SpaceError
from townhall.live.sources.push_sources import PushSources
from townhall.live.sources.session import IngestSession, until_stopped
from townhall.live.sources.source_watch import SourceWatch
from townhall.ops.metrics import INGEST_REFUSED
from townhall.settings import Settings

log = logging.getLogger("townhall.ingest")
READ_SIZE = 64 * 1024
METADATA_OK = (b"<?xml version=\"1.0\"?>\n<iceresponse><message>Metadata update successful"
               b"</message><return>1</return></iceresponse>\n")
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
           405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict",
           413: "Payload Too Large", 415: "Unsupported Media Type", 501: "Not Implemented",
           503: "Service Unavailable"}


# a source stopped by the hosting rules while it pushed: status, what to do
REFUSED_WHILE_PUSHING = {
    "no_audio": (408, "nothing that decodes arrived in time: push audio at once"),
    "evicted_no_audio": (408, "nothing that decodes arrived, and newer sources were waiting"),
    "origin_full": (503, "this origin carries all the live spaces it can; try again when one "
                         "ends"),
    "origin_busy": (503, "the programs on air here run late; try again soon"),
    "quota_exceeded": (429, "your key keeps all the spaces on air it may; end one first"),
    "key_revoked": (403, "the API key that created this space has been revoked"),
}


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
    refused = REFUSED_WHILE_PUSHING.get(session.ended_by or "")
    if refused is not None:
        return refused[0], {"error": session.ended_by, "detail": refused[1]}
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
        self.pool = IngestPool(settings.ingest.ingest_max_connections,
                               settings.ingest.ingest_connections_per_network)
        self._held: dict[int, tuple[asyncio.StreamWriter, asyncio.Task[None]]] = {}
        self.refused = 0  # connections refused or evicted, for the operator's metrics
        self._refused_lingering = 0

    @property
    def connections(self) -> int:
        """Open now (authorised sources and provisional holders)."""
        return len(self.pool)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.settings.listen.host,
                                                  self.settings.listen.ingest_port,
                                                  limit=self.settings.ingest.ingest_max_header_bytes)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

    def _refused(self, reason: str) -> None:
        self.refused += 1
        INGEST_REFUSED.labels(reason).inc()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        conn, arrival = self.pool.arrive(address)
        if not arrival.admitted:
            self._refused(arrival.refusal or "pool_full")
            writer.write(_json(503, {"error": "overloaded",
                                     "detail": "too many ingest connections (from your network"
                                               " or in all); retry soon"}))
            # refused sockets linger outside the pool: a few at a time (descriptors are
            # finite), the rest are closed at once
            if self._refused_lingering >= self.settings.ingest.ingest_refused_lingering_max:
                writer.close()
                return
            self._refused_lingering += 1
            try:
                await self._linger(reader, writer)
            finally:
                self._refused_lingering -= 1
            return
        if arrival.evict is not None:
            self._evict(arrival.evict)
        task = asyncio.current_task()
        assert task is not None
        self._held[conn] = (writer, task)
        try:
            await self._serve(conn, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            if self.pool.holds(conn):
                raise  # the server is shutting down, not an eviction
        except Exception:
            log.exception("ingest connection failed")
        finally:
            self._held.pop(conn, None)
            if self.pool.holds(conn):
                self.pool.finished(conn)
                await self._linger(reader, writer)
                self.pool.leave(conn)
            else:
                writer.close()

    def _evict(self, conn: int) -> None:
        """Close an idle, unauthorised connection to make room (the pool already let it go)."""
        held = self._held.pop(conn, None)
        self._refused("evicted_idle")
        if held is None:
            return
        writer, task = held
        with contextlib.suppress(Exception):
            writer.write(_json(503, {"error": "evicted",
                                     "detail": "an idle ingest connection was closed to make "
                                               "room; send the request head at once"}))
        writer.close()
        task.cancel()

    async def _linger(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Send what is written, half-close, and read (and drop) what the client still sends
        for up to `ingest_linger_s` (at most `ingest_linger_bytes`), then close: a client
        that is still pushing reads the answer instead of a reset (nginx's lingering close)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.ingest.ingest_linger_s
        drained = 0
        try:
            await asyncio.wait_for(writer.drain(), self.settings.ingest.ingest_linger_s)
            if writer.can_write_eof():
                writer.write_eof()
            while drained < self.settings.ingest.ingest_linger_bytes:
                left = deadline - loop.time()
                if left <= 0:
                    break
                data = await asyncio.wait_for(reader.read(READ_SIZE), left)
                if not data:
                    break
                drained += len(data)
        except (TimeoutError, ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _read_head(self, reader: asyncio.StreamReader) -> RequestHead:
        try:
            raw = await asyncio.wait_for(self._head_bytes(reader),
                                         self.settings.ingest.ingest_header_timeout_s)
        except TimeoutError:
            self._refused("head_timeout")
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
            if len(raw) > self.settings.ingest.ingest_max_header_bytes:
                raise asyncio.LimitOverrunError("request head too large", len(raw))

    async def _serve(self, conn: int, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        try:
            head = await self._read_head(reader)
            if head.method == "GET":  # a metadata update: titles are not carried; say OK
                writer.write(response(200, "OK", METADATA_OK, content_type="text/xml"))
                await writer.drain()
                return
            space_id = _space_from_target(head.target)
            if self.relay is not None:
                if not self.relay.proven(head.headers):
                    await self._relay(conn, head, space_id, reader, writer)
                    return
                log.warning("a relayed source reached the ingest port: taken here (point "
                            "ingest_relay_url at the edge, not at an ingest port)")
            creds = head.credentials()
            framing, length = head.body()
            session = self.sources.open(space_id, creds[1] if creds else None)
        except HttpError as exc:
            self._refused(str(exc.status))
            writer.write(_json(exc.status, {"error": "bad_request", "detail": exc.message}))
            return
        except SpaceError as exc:
            self._refused(exc.code)
            writer.write(_json(exc.status, {"error": exc.code, "detail": exc.message}))
            return
        self.pool.authorised(conn)

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

    async def _relay(self, conn: int, head: RequestHead, space_id: str,
                     reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
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
            self.pool.authorised(conn)  # the edge's origin accepted the key
            if head.method == "SOURCE":
                writer.write(b"HTTP/1.0 200 OK\r\n\r\n")
            elif head.headers.get("expect", "").lower() == "100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
            log.info("source connected to %s (%s, %s body), relayed through the edge",
                     space_id, head.method, framing, extra={"space_id": space_id})

        body = body_chunks(reader, framing, length, self.settings.ingest.ingest_idle_timeout_s)
        async with contextlib.aclosing(body):
            status, payload = await self.relay.carry(
                space_id, head.headers.get("authorization", ""), body, go_ahead)
        if status == 499 or (told and head.method == "SOURCE"):
            return  # reset by the client; or legacy Icecast, answered "OK" already
        writer.write(_json(status, payload))
        await writer.drain()

    async def _pump(self, reader: asyncio.StreamReader, session: IngestSession, framing: str,
                    length: int | None) -> tuple[int, dict[str, object]]:
        body = body_chunks(reader, framing, length, self.settings.ingest.ingest_idle_timeout_s)

        async def consume() -> None:
            async with contextlib.aclosing(body):
                async for data in body:
                    if session.closed or not await session.feed(data):
                        break

        try:
            await until_stopped(session, consume())
        except TimeoutError:
            return 408, {"error": "source_idle",
                         "detail": "no audio received for "
                                   f"{self.settings.ingest.ingest_idle_timeout_s:g} s"}
        except ConnectionError as exc:  # reset by the source: it left all the same
            return 499, {"error": "source_reset", "detail": str(exc) or "reset",
                         **session.losses()}
        except HttpError as exc:
            session.stop()
            return exc.status, {"error": "bad_request", "detail": exc.message}
        finally:
            await session.close()
        return outcome(session, self.settings.media.sample_rate)


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
