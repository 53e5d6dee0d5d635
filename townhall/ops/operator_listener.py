"""The operator's listener: Prometheus metrics on an address of the operator's choosing.

Operator surfaces are the operator's. The metrics name every live space, its listeners, its
lag and the origin's shedding state: worth something to an attacker timing a flood, so the
origin's public HTTP port answers /metrics only with the admin key (web.health), and this
small listener serves it without a key on `metrics_listen` (default 127.0.0.1:9464: loopback,
for a local Prometheus or an SSH tunnel; "" turns it off). It answers `GET /metrics` and
`GET /healthz`, nothing else, reads at most one small request head per connection within a
few seconds, and never touches a space. A port already in use is logged, not fatal: the
admin-key route still serves the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from townhall.ops.metrics import REGISTRY

log = logging.getLogger("townhall.ops")
HEAD_LIMIT = 8 * 1024
HEAD_TIMEOUT_S = 5.0


def parse_listen(listen: str) -> tuple[str, int]:
    """"host:port", "[v6]:port" or a bare port (loopback) -> (host, port)."""
    host, sep, port = listen.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", listen
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"metrics_listen must be host:port, got {listen!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _response(status: str, body: bytes, content_type: str) -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}"
            "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n").encode() + body


class OperatorListener:
    def __init__(self, listen: str) -> None:
        self.listen = listen
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int | None:
        if self._server is None:
            return None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        if not self.listen:
            return
        host, port = parse_listen(self.listen)
        try:
            self._server = await asyncio.start_server(self._handle, host, port, limit=HEAD_LIMIT)
        except OSError as exc:
            log.warning("the operator listener cannot listen on %s (%s): /metrics is served "
                        "only with the admin key on the HTTP port", self.listen, exc)
            return
        log.info("operator metrics on http://%s:%d/metrics", host, self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
            method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
            path = rest.split(" ", 1)[0].split("?", 1)[0]
            if method != "GET":
                out = _response("405 Method Not Allowed", b"GET only\n", "text/plain")
            elif path == "/metrics":
                out = _response("200 OK", generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                out = _response("200 OK", b'{"status": "alive"}', "application/json")
            else:
                out = _response("404 Not Found", b"/metrics or /healthz\n", "text/plain")
            writer.write(out)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError, UnicodeDecodeError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
