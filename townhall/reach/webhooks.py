"""Signed webhooks: endpoints, the queue in the store, and the delivery worker.

Service. Events are queued in the store (store/reach.py), so they survive a restart and
every origin of a cluster shares one queue. One worker task per origin, every
`webhook_poll_s`, takes each endpoint's oldest pending delivery (in order per endpoint: a
failing one holds the ones behind it), claims it (one origin per attempt) and POSTs it signed
(Standard Webhooks, reach/signature.py). A failure waits `webhook_retry_first_s`, doubling up
to `webhook_retry_max_s`; a delivery still failing `webhook_give_up_s` after its event is
given up (counted, logged, in the endpoint's log). Every store call runs in a thread and
every HTTP call has a timeout: nothing here can block the program or a listener.

An endpoint must resolve to global addresses only (no loopback, private, link-local,
multicast or reserved ones) unless the operator sets `webhook_allow_private`: checked when it
is registered and again before every attempt (DNS may change); redirects are not followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import secrets
import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from townhall.errors import StoreUnavailable
from townhall.live import tasks
from townhall.live.errors import SpaceError
from townhall.ops.metrics import WEBHOOK_ATTEMPTS
from townhall.reach import signature
from townhall.reach.events import TYPES, SpaceEvent
from townhall.settings import Settings
from townhall.store.reach import Delivery, Endpoint, ReachStore

log = logging.getLogger("townhall.webhooks")
URL_MAX = 2000


class Webhooks:
    def __init__(self, settings: Settings, store: ReachStore,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.delivered = 0
        self.failed_attempts = 0
        self.given_up = 0  # deliveries dropped after webhook_give_up_s (metric)
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._wake = asyncio.Event()
        self._in_flight: dict[str, asyncio.Task[None]] = {}  # endpoint id -> its attempt

    # --- endpoints ---
    async def register(self, owner: str, url: str, events: list[str]) -> Endpoint:
        s = self.settings
        unknown = sorted(set(events) - set(TYPES))
        if not events or unknown:
            raise SpaceError(422, "invalid_events",
                             f"events: choose from {', '.join(TYPES)}"
                             + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
        await self.check_url(url)
        mine = await asyncio.to_thread(self.store.endpoints, owner)
        if len(mine) >= s.reach.webhook_endpoints_per_owner:
            raise SpaceError(429, "too_many_endpoints",
                             f"at most {s.reach.webhook_endpoints_per_owner} endpoints per key; "
                             "delete one first")
        endpoint = Endpoint("ep_" + secrets.token_hex(8), owner, url, signature.new_secret(),
                            tuple(t for t in TYPES if t in events), self.clock())
        await asyncio.to_thread(self.store.add_endpoint, endpoint)
        return endpoint

    async def check_url(self, url: str) -> str:
        """Raise SpaceError 422 unless `url` is http(s) to a host that resolves to addresses
        the operator lets us reach (global ones, unless webhook_allow_private). Returns the
        address checked, which the delivery then connects to (no second lookup that a
        rebinding name could answer differently)."""
        if len(url) > URL_MAX:
            raise SpaceError(422, "invalid_url", f"url: at most {URL_MAX} characters")
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise SpaceError(422, "invalid_url", "url: not a URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SpaceError(422, "invalid_url", "url: give an http:// or https:// URL")
        try:
            infos = await asyncio.to_thread(socket.getaddrinfo, parts.hostname, port,
                                            type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise SpaceError(422, "unresolvable_url",
                             f"url: {parts.hostname} does not resolve") from None
        for info in infos:
            addr = ipaddress.ip_address(str(info[4][0]).split("%")[0])
            if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
                addr = addr.ipv4_mapped  # ::ffff:127.0.0.1 is loopback, whatever 3.11 says
            if not addr.is_global and not self.settings.reach.webhook_allow_private:
                raise SpaceError(422, "private_address",
                                 f"url: {parts.hostname} resolves to {addr}, a loopback or "
                                 "private address; the operator has not allowed those "
                                 "(webhook_allow_private)")
        found = [str(info[4][0]).split("%")[0] for info in infos]
        # IPv4 first (a receiver on "localhost" commonly listens on 127.0.0.1 alone)
        return next((a for a in found if ":" not in a), found[0])

    # --- queueing ---
    async def publish(self, event: SpaceEvent, owner: str) -> int:
        """Queue the event for every endpoint that wants it: the operator's, and the space
        owner's key's, made before the event happened. Returns how many were queued now."""
        endpoints = await asyncio.to_thread(self.store.endpoints)
        body = event.body()
        queued = 0
        for e in endpoints:
            if event.type not in e.events or e.created_at > event.at:
                continue
            if e.owner not in ("admin", owner):
                continue
            if await asyncio.to_thread(self.store.enqueue, e.id, event.id, event.type, body,
                                       self.clock()):
                queued += 1
        if queued:
            self._wake.set()
        return queued

    # --- delivery ---
    def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.settings.reach.webhook_timeout_s,
                                         follow_redirects=False, trust_env=False)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        await tasks.cancel(self._task)
        for task in list(self._in_flight.values()):
            task.cancel()  # its claim lapses; another pass (or origin) tries it again
        await self.settle()
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.deliver_due()
            except StoreUnavailable:
                pass  # the queue is in the store: try again when it is back
            except Exception:  # one bad pass must not end deliveries for good
                log.exception("webhook pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.reach.webhook_poll_s)

    async def deliver_due(self) -> None:
        """Start an attempt for each endpoint whose head is due and has none in flight: a
        slow receiver holds its own queue only, never the others'."""
        now = self.clock()
        heads = await asyncio.to_thread(self.store.heads)
        loop = asyncio.get_running_loop()
        for d in heads:
            if d.next_at > now or d.endpoint_id in self._in_flight:
                continue
            task = loop.create_task(self._attempt(d))
            self._in_flight[d.endpoint_id] = task
            task.add_done_callback(self._landed)

    def _landed(self, task: asyncio.Task[None]) -> None:
        for endpoint_id, t in list(self._in_flight.items()):
            if t is task:
                del self._in_flight[endpoint_id]

    async def settle(self) -> None:
        """Wait for the attempts in flight (tests, and close)."""
        await asyncio.gather(*self._in_flight.values(), return_exceptions=True)

    async def _attempt(self, d: Delivery) -> None:
        s = self.settings
        if not await asyncio.to_thread(self.store.claim, d, self.clock() + s.reach.webhook_timeout_s
                                       * 2):
            return  # another origin took it
        endpoint = await asyncio.to_thread(self.store.endpoint, d.endpoint_id)
        if endpoint is None:
            await asyncio.to_thread(self.store.finish, d, "dropped", self.clock())
            return
        status, error, started = None, None, time.monotonic()
        try:
            address = await self.check_url(endpoint.url)
            body = d.body.encode()
            assert self._client is not None
            parts = urlsplit(endpoint.url)
            host = parts.hostname or ""
            pinned = httpx.URL(endpoint.url).copy_with(host=address)
            res = await self._client.post(
                pinned, content=body,
                headers={**signature.headers(endpoint.secret, d.event_id, int(self.clock()),
                                             body), "host": parts.netloc.rpartition("@")[2]},
                # TLS is still checked against the name the endpoint was given
                extensions={"sni_hostname": host} if parts.scheme == "https" else None)
            status = res.status_code
            if not 200 <= status < 300:
                error = f"answered {status}"
        except SpaceError as exc:
            error = exc.message
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:300] or type(exc).__name__
        took = round((time.monotonic() - started) * 1000)
        now = self.clock()
        if error is None:
            state, next_at = "delivered", now
            self.delivered += 1
            WEBHOOK_ATTEMPTS.labels("delivered").inc()
            self._wake.set()  # the endpoint's next one goes now
        else:
            self.failed_attempts += 1
            wait = min(s.reach.webhook_retry_max_s, s.reach.webhook_retry_first_s * 2 ** d.attempts)
            if now + wait - d.created_at > s.reach.webhook_give_up_s:
                state, next_at = "failed", now
                self.given_up += 1
                WEBHOOK_ATTEMPTS.labels("given_up").inc()
                log.warning("webhook %s to %s given up after %d attempts: %s", d.event_type,
                            endpoint.url, d.attempts + 1, error)
            else:
                state, next_at = "pending", now + wait
                WEBHOOK_ATTEMPTS.labels("failed").inc()
        await asyncio.to_thread(self.store.log_attempt, d, now, status, error, took,
                                s.reach.webhook_log_rows)
        await asyncio.to_thread(self.store.finish, d, state, next_at)
