"""The source relay: in a cluster, a push that arrives on an origin's ingest port is carried,
as a chunked `PUT`, through the edge's `/ingest/<space>`, so that it lands where the edge sends
every source of that space.

Why: Icecast-framed sources (SOURCE, or ffmpeg's `icecast://`: a PUT with neither length nor
chunking; liquidsoap, DarkIce, ices2, butt) cannot pass an HTTP proxy, so they push straight
to one origin's ingest port. The space's speakers (WHIP) and chunked pushes come through the
edge, which hashes them by space to one origin; a source on any other origin would pull the
program there (hand-over), the speakers' origin would pull it back, and the program would
bounce. Relayed through the edge, the source meets the space's other sources on the hash
origin, whichever origin's ingest port it reached, and after a failover it follows the edge.

Always relayed, never "kept when this origin is the right one": the edge's choice (a
consistent hash over its upstreams, with failover to the next) cannot be known here, and a
relay on the same network costs little (measured: docs/cluster.md). Only the framing
changes: the body's bytes go upstream unchanged.

The protocol, per source:
1. A preflight `PUT` with `Content-Length: 0` asks the hash origin to authorise (host key,
   space not ended, hosting quota) with no side effect: it answers 400 `empty_body` when the
   source would be accepted, else the refusal (401, 404, 409, 503...), which is passed to the
   client before it is told to send (Icecast clients wait for "200 OK" or "100 Continue").
2. The streaming `PUT` (chunked) on the same connection, carrying the client's body as it is
   read: backpressure end to end (a client read waits for the previous chunk's drain, so no
   more than one read plus the transport's buffer is held, and TCP paces the client at the
   hash origin's pace, which is the program's).
3. The hash origin's answer (200 with what was decoded, 409 `taken_over`, 503 `program_moved`
   or the edge's `origin_unavailable`...) goes back to the client as its answer, as soon as it
   comes (mid-body too: the relay then stops reading the client).
An edge that cannot be reached, or that closes without an answer, is a 503 `relay_failed`
to the client (which reconnects). Every relay is counted by outcome
(`townhall_sources_relayed_total`; `townhall_sources_relaying` now).

Loops: the edge forwards `/ingest/` to origins' HTTP ports, which never relay. Each relayed
request carries `X-Townhall-Relay`, a token derived from the deployment's edge secret; an
ingest port that receives it (a relay URL pointing at an ingest port by mistake) takes the
source itself instead of relaying again. Without a cluster (no Redis) or without an edge
(`ingest_public_url` / `ingest_relay_url` unset), or with `ingest_relay` off, nothing is relayed.
Never decodes audio; never buffers more than one read.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from townhall.delivery.relay_token import relay_token as relay_token  # its home: delivery
from townhall.ingest.http1 import ChunkedDecoder, HttpError
from townhall.ops import metrics
from townhall.settings import Settings

log = logging.getLogger("townhall.ingest")
RELAY_HEADER = "x-townhall-relay"
SPACE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_ANSWER_BYTES = 64 * 1024
PREFLIGHT_OK = (400, "empty_body")  # the hash origin would take the source
Answer = tuple[int, dict[str, object]]
READ_FAILED: Answer = (503, {"error": "relay_failed",
                             "detail": "the edge closed the push without an answer; reconnect"})


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    tls: bool
    base: str  # path prefix before /ingest/<space>
    netloc: str

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"ingest relay URL {url!r} is not http(s)://host[:port]")
        tls = parts.scheme == "https"
        host_port = parts.netloc.rsplit("@", 1)[-1]
        return cls(parts.hostname, parts.port or (443 if tls else 80), tls,
                   parts.path.rstrip("/"), host_port)


async def read_answer(reader: asyncio.StreamReader) -> tuple[Answer, bool]:
    """An HTTP response from the edge, as the client's answer; and whether the connection
    stays open. Whatever is not the origin's JSON keeps its status under `edge_refused`."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[1].isdigit():
        raise HttpError(502, f"malformed answer {lines[0][:80]!r}")
    status = int(status_line[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (line.partition(":") for line in lines[1:] if line)}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        decoder, body = ChunkedDecoder(), b""
        while not decoder.done and len(body) < MAX_ANSWER_BYTES:
            data = await reader.read(4096)
            if not data:
                break
            body += decoder.feed(data)
    elif "content-length" in headers:
        body = await reader.readexactly(min(int(headers["content-length"]), MAX_ANSWER_BYTES))
    else:
        body = await reader.read(MAX_ANSWER_BYTES)
    keep = headers.get("connection", "").lower() != "close"
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        return (status, {"error": "edge_refused",
                         "detail": f"the edge answered {status} "
                                   f"{status_line[2] if len(status_line) > 2 else ''}"
                                   .strip()}), keep
    return (status, payload), keep


class SourceRelay:
    def __init__(self, settings: Settings, url: str) -> None:
        self.settings = settings
        self.target = Target.parse(url)
        self.token = relay_token(settings.listen.edge_secret)

    @classmethod
    def from_settings(cls, settings: Settings) -> SourceRelay | None:
        """The relay of a cluster origin that knows its edge, else None."""
        url = settings.ingest.ingest_relay_url or settings.listen.ingest_public_url
        if not settings.ingest.ingest_relay or settings.cluster.redis_url is None or not url:
            return None
        try:
            return cls(settings, url)
        except ValueError as exc:
            log.error("sources on the ingest port are taken here, not relayed: %s", exc)
            return None

    def proven(self, headers: dict[str, str]) -> bool:
        """A request another origin relayed: take it, never relay it again."""
        return hmac.compare_digest(headers.get(RELAY_HEADER, ""), self.token)

    def _head(self, space_id: str, auth: str, extra: str) -> bytes:
        t = self.target
        return (f"PUT {t.base}/ingest/{space_id} HTTP/1.1\r\nHost: {t.netloc}\r\n"
                f"Authorization: {auth}\r\nContent-Type: application/octet-stream\r\n"
                f"X-Townhall-Relay: {self.token}\r\n{extra}\r\n").encode()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        t = self.target
        context = ssl.create_default_context() if t.tls else None
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(t.host, t.port, ssl=context, limit=MAX_ANSWER_BYTES),
            self.settings.ingest.ingest_relay_connect_timeout_s)
        # a small send buffer: the client is read no faster than the edge takes the bytes
        writer.transport.set_write_buffer_limits(high=self.settings.ingest.ingest_relay_buffer_bytes)
        return reader, writer

    async def carry(self, space_id: str, auth: str, body: AsyncIterator[bytes],
                    go_ahead: Callable[[], Awaitable[None]]) -> Answer:
        """Relay one source; the answer for its client. `go_ahead` tells the client to send."""
        if not SPACE_ID.fullmatch(space_id):  # no such space; nothing to put in a request line
            return 404, {"error": "space_not_found", "detail": f"no space with id {space_id!r}"}
        metrics.SOURCES_RELAYING.inc()
        try:
            answer = await self._carry(space_id, auth, body, go_ahead)
        finally:
            metrics.SOURCES_RELAYING.dec()
        kind = str(answer[1].get("error") or "ok")
        metrics.SOURCES_RELAYED.labels(kind).inc()
        log.log(logging.INFO if answer[0] < 500 else logging.WARNING,
                "relayed source of %s ended: %s %s", space_id, answer[0], answer[1],
                extra={"space_id": space_id})
        return answer

    async def _carry(self, space_id: str, auth: str, body: AsyncIterator[bytes],
                     go_ahead: Callable[[], Awaitable[None]]) -> Answer:
        timeout = self.settings.ingest.ingest_relay_connect_timeout_s
        try:
            reader, writer = await self._connect()
            writer.write(self._head(space_id, auth, "Content-Length: 0\r\n"))
            (pre, keep) = await asyncio.wait_for(read_answer(reader), timeout * 2)
            if (pre[0], pre[1].get("error")) != PREFLIGHT_OK:
                writer.close()
                return pre
            if not keep:
                writer.close()
                reader, writer = await self._connect()
            writer.write(self._head(space_id, auth, "Transfer-Encoding: chunked\r\n"))
            await writer.drain()
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                HttpError) as exc:
            return 503, {"error": "relay_failed",
                         "detail": f"the edge ({self.target.netloc}) cannot be reached: "
                                   f"{exc or type(exc).__name__}; reconnect"}
        try:
            await go_ahead()
            return await self._pump(body, reader, writer)
        except TimeoutError:  # the client stopped sending
            idle = self.settings.ingest.ingest_idle_timeout_s
            return 408, {"error": "source_idle", "detail": f"no audio received for {idle:g} s"}
        except ConnectionError as exc:  # reset by the client: the edge's push is cut too
            return 499, {"error": "source_reset", "detail": str(exc) or "reset"}
        except HttpError as exc:
            return exc.status, {"error": "bad_request", "detail": exc.message}
        finally:
            writer.close()

    async def _pump(self, body: AsyncIterator[bytes], reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> Answer:
        answer = asyncio.ensure_future(read_answer(reader))
        try:
            chunks = body.__aiter__()
            while True:
                step = asyncio.ensure_future(chunks.__anext__())
                await asyncio.wait({step, answer}, return_when=asyncio.FIRST_COMPLETED)
                if answer.done():  # the origin answered mid-body: stop reading the client
                    step.cancel()
                    with contextlib.suppress(BaseException):
                        await step
                    return self._answered(answer)
                try:
                    data = step.result()
                except StopAsyncIteration:
                    break
                writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                drain = asyncio.ensure_future(writer.drain())
                await asyncio.wait({drain, answer}, return_when=asyncio.FIRST_COMPLETED)
                if not drain.done():
                    drain.cancel()
                    return self._answered(answer)
                if drain.exception() is not None:
                    return await self._after_failure(answer)
            writer.write(b"0\r\n\r\n")
            with contextlib.suppress(OSError):
                await writer.drain()
            done, _ = await asyncio.wait({answer},
                                         timeout=self.settings.ingest.ingest_relay_answer_s)
            if not done:
                return 504, {"error": "relay_failed",
                             "detail": "the edge did not answer after the push ended"}
            return self._answered(answer)
        finally:
            if not answer.done():
                answer.cancel()
                with contextlib.suppress(BaseException):
                    await answer

    async def _after_failure(self, answer: asyncio.Future[tuple[Answer, bool]]) -> Answer:
        """The edge stopped taking bytes: its answer if one comes at once, else a failure."""
        await asyncio.wait({answer}, timeout=1.0)
        return self._answered(answer)

    @staticmethod
    def _answered(answer: asyncio.Future[tuple[Answer, bool]]) -> Answer:
        if not answer.done() or answer.cancelled() or answer.exception() is not None:
            return READ_FAILED
        return answer.result()[0]
