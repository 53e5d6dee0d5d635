"""A cap on the HTTP connections one origin holds, answered with a fast 503.

uvicorn's `limit_concurrency` answers 503 only once a request arrives, and a connection that
never sends one holds its descriptor for good (uvicorn times out idle keep-alive
connections, not new ones). This protocol, the httptools one uvicorn runs with two additions,
closes at once with `503` + `Retry-After` any connection past `cap`, and closes a new
connection that sends nothing within `head_timeout_s`. So a flood of idle sockets turns into
fast refusals, never into a full descriptor table. Never reads a request itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_BODY = b'{"error": "overloaded", "detail": "too many connections; retry soon"}'
REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nContent-Type: "
           b"application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
           % (len(_BODY), _BODY))


class Counters:
    refused = 0  # connections answered 503 at once, for the operator's metrics
    idle_closed = 0


def capped_http(cap: int, head_timeout_s: float) -> type[HttpToolsProtocol]:
    class CappedHttp(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            if len(self.connections) >= cap:
                Counters.refused += 1
                transport.write(REFUSAL)
                transport.close()
                return
            super().connection_made(transport)
            # closed unless its first bytes arrive in time (data_received cancels this)
            self.timeout_keep_alive_task = self.loop.call_later(head_timeout_s, self._idle)

        def _idle(self) -> None:
            Counters.idle_closed += 1
            self.timeout_keep_alive_handler()

        def connection_lost(self, exc: Exception | None) -> None:
            if self.transport is None:
                return  # refused in connection_made: never counted
            super().connection_lost(exc)

    return CappedHttp


def metrics() -> dict[str, Any]:
    return {"refused": Counters.refused, "idle_closed": Counters.idle_closed}
