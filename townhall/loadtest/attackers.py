"""Attackers for the flood tests: the flood issue's request patterns, from many loopback sources.

Patterns: `join` (POST join), `details` (GET the space's details), `random` (unknown URLs),
`ticketless` (live media without a ticket), `forged` (live media under a well-formed ticket
with a random hash and a future expiry), `slow` (slowloris: connections that trickle header
lines and never finish a request). Requests are sent at a fixed total rate, patterns in turn,
each from the next address of a pool of distinct 127.A.B.C sources (keep-alive per source).

Bounded three ways: a total count (rate x duration), a ceiling of requests in flight (beyond it
a send is counted as "skipped", never queued) and the run's deadline; `close()` ends
everything still open. Only ever talks to the loopback target.
"""

from __future__ import annotations

import asyncio
import random
import string
import time

from townhall.loadtest.config import LoadConfig
from townhall.loadtest.http import HttpClient, HttpError
from townhall.loadtest.metrics import Tally, percentile
from townhall.loadtest.safety import Target

TICK_S = 0.01  # how often due requests are sent
LATE_S = 0.25  # a request sent this long after it fell due counts as late
DRAIN_S = 1.0  # at the end, requests in flight get this long to finish before they are cut
# (and counted "unfinished"): the last due ones go out at the run's end, and a busy loop
# sends a burst then
B64URL = string.ascii_letters + string.digits + "-_"
ALNUM = string.ascii_letters + string.digits


def forged_ticket(rng: random.Random, now: float) -> str:
    """`<seat>.<expires>.<22 base64url chars>`: the shape of a real ticket, a random hash."""
    seat = "".join(rng.choices(ALNUM, k=rng.randint(6, 16)))
    token = "".join(rng.choices(B64URL, k=22))
    return f"{seat}.{int(now) + rng.randint(60, 3600)}.{token}"


def attack_request(pattern: str, space: str, rng: random.Random,
                   now: float) -> tuple[str, str, bytes | None]:
    """(method, path, body) of one request of `pattern` (all but "slow")."""
    if pattern == "join":
        return "POST", f"/api/spaces/{space}/join", b"{}"
    if pattern == "details":
        return "GET", f"/api/spaces/{space}", None
    if pattern == "random":
        depth = rng.randint(1, 3)
        path = "/".join("".join(rng.choices(ALNUM, k=rng.randint(3, 12))) for _ in range(depth))
        return "GET", f"/{path}", None
    if pattern == "ticketless":
        return "GET", f"/live/{space}/media.m3u8", None
    if pattern == "forged":
        return "GET", f"/live/{space}/t/{forged_ticket(rng, now)}/media.m3u8", None
    raise ValueError(f"no request shape for pattern {pattern!r}")


class _SlowConnection(asyncio.Protocol):
    """Sends a request head one header line at a time, forever (until closed)."""

    def __init__(self, owner: Attackers, host: str) -> None:
        self.owner = owner
        self.host = host
        self.transport: asyncio.Transport | None = None
        self.opened = time.monotonic()
        self.outcome: str | None = None
        self.lines = 0
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.owner.slow_opened(self)
        transport.write(f"GET / HTTP/1.1\r\nHost: {self.host}\r\n".encode())
        self._schedule()

    def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.owner.config.slow_trickle_s, self._trickle)

    def _trickle(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.lines += 1
        self.transport.write(f"X-Slow-{self.lines}: {self.lines}\r\n".encode())
        self._schedule()

    def data_received(self, data: bytes) -> None:
        if self.outcome is None:
            status = data[9:12].decode("latin-1", "replace")
            self.outcome = status if status.isdigit() else "answered"
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.owner.slow_ended(self, self.outcome or "closed_by_server")

    def end(self) -> None:
        """The run is over: stop trickling and close."""
        if self.outcome is None:
            self.outcome = "held_to_end"
        if self.transport is not None:
            self.transport.abort()


class Attackers:
    def __init__(self, config: LoadConfig, target: Target, tally: Tally,
                 rng: random.Random) -> None:
        self.config = config
        self.target = target
        self.tally = tally
        self.rng = rng
        self.pool = config.attack_pool()
        self.patterns = config.attacks
        self._clients: dict[str, HttpClient] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._slow: set[_SlowConnection] = set()
        self.sent = 0
        self.late = 0  # sent more than LATE_S after it fell due: the generator fell behind
        self.slow_held_s: list[float] = []

    async def run(self, start: float, stop_at: float) -> None:
        """Send `attack_rate` a second from `start` to `stop_at` (loop time): rate x duration in
        all, whatever the loop's lag. A late or slow loop sends what fell due at its next turn,
        the last of it at `stop_at`, so the count never depends on how busy the machine is."""
        if not self.patterns:
            return
        loop = asyncio.get_running_loop()
        total = int(self.config.attack_rate * max(0.0, stop_at - start))
        while self.sent < total:
            now = loop.time()
            due = min(total, int((now - start) * self.config.attack_rate) + 1)
            while self.sent < due:
                if now - (start + self.sent / self.config.attack_rate) > LATE_S:
                    self.late += 1
                self._launch(self.patterns[self.sent % len(self.patterns)], self.sent)
                self.sent += 1
            if now >= stop_at:
                break
            await asyncio.sleep(min(TICK_S, max(0.0, stop_at - now)))

    def _launch(self, pattern: str, n: int) -> None:
        source = self.pool.address(n)
        if pattern == "slow":
            if len(self._slow) >= self.config.slow_connections:
                self.tally.attack_result(pattern, "skipped")
                return
            coro = self._open_slow(source)
        elif len(self._tasks) >= self.config.attack_concurrency:
            self.tally.attack_result(pattern, "skipped")
            return
        else:
            coro = self._one(pattern, source)
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _client(self, source: str) -> HttpClient:
        client = self._clients.get(source)
        if client is None:
            client = self._clients[source] = HttpClient(self.target, source=source, max_idle=1,
                                                        connect_timeout=self.config.
                                                        attack_timeout_s)
        return client

    async def _one(self, pattern: str, source: str) -> None:
        method, path, body = attack_request(pattern, self.config.space, self.rng, time.time())
        try:
            resp = await self._client(source).request(method, path, body=body,
                                                      timeout=self.config.attack_timeout_s)
        except HttpError as exc:
            self.tally.attack_result(pattern, exc.kind)
            return
        except asyncio.CancelledError:
            self.tally.attack_result(pattern, "unfinished")  # cut at the run's end
            raise
        self.tally.attack_result(pattern, str(resp.status))

    async def _open_slow(self, source: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.config.attack_timeout_s):
                await loop.create_connection(
                    lambda: _SlowConnection(self, self.target.host_header),
                    self.target.host, self.target.port, local_addr=(source, 0))
        except (OSError, TimeoutError) as exc:
            self.tally.attack_result("slow", "timeout" if isinstance(exc, TimeoutError)
                                     else "connect")
            return

    def slow_opened(self, conn: _SlowConnection) -> None:
        self._slow.add(conn)

    def slow_ended(self, conn: _SlowConnection, outcome: str) -> None:
        if conn in self._slow:
            self._slow.discard(conn)
            self.slow_held_s.append(time.monotonic() - conn.opened)
            self.tally.attack_result("slow", outcome)

    def slow_summary(self) -> dict[str, float | int | None]:
        held = self.slow_held_s
        return {"connections": len(held), "held_p50_s": percentile(held, 50),
                "held_max_s": max(held) if held else None}

    async def close(self) -> None:
        if self._tasks:  # the last requests went out at the run's end: let them finish
            await asyncio.wait(list(self._tasks), timeout=DRAIN_S)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for conn in list(self._slow):
            conn.end()
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
        await asyncio.sleep(0)
