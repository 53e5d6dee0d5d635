"""A minimal asyncio HTTP/1.1 client: keep-alive connections to one loopback target.

The thin adapter around `wire` (the aioquic `asyncio/protocol.py` shape): an
`asyncio.Protocol` per connection feeds the sans-IO parser, and `HttpClient` keeps a few idle
connections for reuse, optionally bound to a source address (`127.x.y.z`) so thousands of
simulated clients each have their own. One request per connection at a time (no
pipelining); a client opens a second connection when its first is busy, as a browser does.
Every request has a deadline (enforced by one sweeper per event loop, not a timer per
request); a connection interrupted mid-request (timeout, cancel) is aborted, never reused.
Never talks to anything but the `Target` it was built with (loopback, checked).
"""

from __future__ import annotations

import asyncio
import json
import weakref
from typing import Any, cast

from townhall.loadtest.safety import Target, check_source
from townhall.loadtest.wire import (
    ProtocolError,
    Response,
    ResponseParser,
    header_block,
    request_bytes,
)

USER_AGENT = "townhall-loadtest/1"
SWEEP_S = 0.1  # request deadlines are enforced this precisely


class HttpError(Exception):
    """A request that got no response; `kind` names why (for error counts)."""

    kind = "http_error"


class ConnectFailed(HttpError):
    kind = "connect"


class Timeout(HttpError):
    kind = "timeout"


class ConnectionClosed(HttpError):
    kind = "closed"


class BadResponse(HttpError):
    kind = "protocol"


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = ResponseParser()
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Response] | None = None
        self.lost = False
        self.received = 0  # bytes read over the connection's life
        self.received_before_request = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport (uvloop's is not registered as an asyncio.Transport subclass)
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        try:
            done = self.parser.feed(data)
        except ProtocolError as exc:
            self.fail(BadResponse(str(exc)))
            return
        if done:
            if self.waiter is None or self.waiter.done() or len(done) > 1:
                self.fail(BadResponse("response without a request"))
                return
            self.waiter.set_result(done[0])

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        try:
            last = self.parser.feed_eof()
        except ProtocolError as err:
            self.fail(ConnectionClosed(str(err)))
            return
        if last is not None and self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(last)
        else:
            self.fail(ConnectionClosed("the server closed the connection"))

    def fail(self, exc: HttpError) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        self.abort()

    def abort(self) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.abort()

    @property
    def reusable(self) -> bool:
        return not self.lost and self.parser.idle and self.transport is not None and \
            not self.transport.is_closing()


class _Watchdog:
    """Fails requests whose deadline has passed, sweeping every SWEEP_S: at thousands of
    requests a second, a timer per request costs more than the request itself."""

    def __init__(self) -> None:
        self.deadlines: dict[_Connection, tuple[float, float]] = {}  # (deadline, timeout)
        self._task: asyncio.Task[None] | None = None

    def watch(self, conn: _Connection, deadline: float, timeout: float) -> None:
        self.deadlines[conn] = (deadline, timeout)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._sweep())

    def done(self, conn: _Connection) -> None:
        self.deadlines.pop(conn, None)

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.deadlines:  # ends by itself once nothing is in flight
                await asyncio.sleep(SWEEP_S)
                now = loop.time()
                for conn, (deadline, timeout) in list(self.deadlines.items()):
                    if deadline <= now:
                        del self.deadlines[conn]
                        conn.fail(Timeout(f"no response within {timeout:g} s"))
        finally:
            self._task = None


_watchdogs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Watchdog] = \
    weakref.WeakKeyDictionary()


def _watchdog() -> _Watchdog:
    loop = asyncio.get_running_loop()
    dog = _watchdogs.get(loop)
    if dog is None:
        dog = _watchdogs[loop] = _Watchdog()
    return dog


class HttpClient:
    """Keep-alive requests to one target, from one source address (or the default one)."""

    def __init__(self, target: Target, *, source: str | None = None, max_idle: int = 2,
                 connect_timeout: float = 10.0) -> None:
        if source is not None:
            source = check_source(source)
            if target.is_ipv6:
                raise ValueError("source addresses need an IPv4 loopback target")
        self.target = target
        self.source = source
        self.max_idle = max_idle
        self.connect_timeout = connect_timeout
        # playlists and details come compressed when asked: as from a browser
        self._block = header_block(target.host_header, {"User-Agent": USER_AGENT,
                                                        "Accept-Encoding": "gzip"})
        self._idle: list[_Connection] = []
        self._busy: set[_Connection] = set()
        self.requests = 0
        self.connections_opened = 0
        self.bytes_received = 0
        self.closed = False
        self._dog: _Watchdog | None = None  # the event loop's, looked up once

    async def _connect(self, deadline: float) -> _Connection:
        loop = asyncio.get_running_loop()
        limit = min(self.connect_timeout, deadline - loop.time())
        try:
            async with asyncio.timeout(limit):
                _, conn = await loop.create_connection(
                    _Connection, self.target.host, self.target.port,
                    local_addr=(self.source, 0) if self.source else None)
        except TimeoutError:
            if limit < self.connect_timeout:
                raise Timeout("no connection before the request's deadline") from None
            raise ConnectFailed("connect timed out") from None
        except OSError as exc:
            raise ConnectFailed(f"connect: {exc.strerror or exc}") from None
        self.connections_opened += 1
        return conn

    def _take_idle(self) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()
            if conn.reusable:
                return conn
            conn.abort()
        return None

    async def request(self, method: str, path: str, *, body: bytes | None = None,
                      json_body: Any = None, timeout: float = 10.0) -> Response:
        """Send one request (path relative to the target's base) and read its response."""
        if self.closed:
            raise ConnectionClosed("the client is closed")
        if json_body is not None:
            body = json.dumps(json_body).encode()
        wire = request_bytes(method, self.target.base_path + path, self._block, body)
        self.requests += 1
        deadline = asyncio.get_running_loop().time() + timeout
        conn = self._take_idle()
        if conn is not None:
            try:
                return await self._exchange(conn, wire, deadline, timeout)
            except ConnectionClosed:
                answered = conn.received != conn.received_before_request
                if method != "GET" or answered:
                    raise
                # a kept-alive connection the server had just closed: once more on a new one
        return await self._exchange(await self._connect(deadline), wire, deadline, timeout)

    async def _exchange(self, conn: _Connection, wire: bytes, deadline: float,
                        timeout: float) -> Response:
        loop = asyncio.get_running_loop()
        conn.waiter = loop.create_future()
        conn.received_before_request = conn.received
        self._busy.add(conn)
        dog = self._dog
        if dog is None:
            dog = self._dog = _watchdog()
        dog.watch(conn, deadline, timeout)
        ok = False
        try:
            assert conn.transport is not None
            if conn.lost or conn.transport.is_closing():
                raise ConnectionClosed("the connection was closed")
            conn.transport.write(wire)
            resp = await conn.waiter
            ok = True
        finally:
            dog.done(conn)
            self._busy.discard(conn)
            conn.waiter = None
            if not ok:
                conn.abort()  # cancelled, timed out or broken: its state is unknown
        self.bytes_received += len(resp.body)
        if resp.keep_alive and conn.reusable and len(self._idle) < self.max_idle:
            self._idle.append(conn)
        elif conn.reusable:
            self._close(conn)
        else:
            conn.abort()
        return resp

    @staticmethod
    def _close(conn: _Connection) -> None:
        conn.lost = True
        if conn.transport is not None:
            conn.transport.close()

    async def close(self) -> None:
        """Close every connection (idle and busy); later requests fail."""
        self.closed = True
        for conn in [*self._idle, *self._busy]:
            self._close(conn)
        self._idle.clear()
        self._busy.clear()
        await asyncio.sleep(0)  # let the transports run their close callbacks
