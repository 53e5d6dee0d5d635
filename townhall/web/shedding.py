"""ASGI middleware: shed the least important requests first when the origin is under pressure.

Classifies each request (media, admission, status, writes, other), asks the pressure policy,
and answers a refused request at once with 503 + Retry-After, never by letting it time out.
Also rate-limits API calls per client address and network (429 + Retry-After). The event
loop's lag is measured by `LagMonitor`. Passes through everything it admits untouched.
"""

from __future__ import annotations

import asyncio
import json
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from townhall.admission.pressure import Priority, classify
from townhall.live import tasks
from townhall.live.joins.admissions import Admissions
from townhall.web.client_ip import Network, client_address


async def send_json(send: Send, status: int, payload: dict[str, object],
                    headers: dict[str, str] | None = None) -> None:
    body = json.dumps(payload).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
           (b"cache-control", b"no-store")]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class Shedding:
    def __init__(self, app: ASGIApp, admissions: Admissions, trusted: list[Network]) -> None:
        self.app = app
        self.admissions = admissions
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        adm = self.admissions
        prio = classify(scope["method"], scope["path"])
        pressure = adm.pressure
        if not pressure.admit(prio):
            adm.attack.sheds.add(time.time())
            retry = pressure.retry_after(prio)
            await send_json(send, 503, {"error": "overloaded",
                                        "detail": f"busy; retry in {retry} s"},
                            {"Retry-After": str(retry)})
            return
        if prio is not Priority.MEDIA and scope["path"].startswith("/api/") and \
                not scope["path"].endswith("/join") and \
                not scope["path"].startswith("/api/admit/"):
            # joins have their own, stricter budget in the handler; origins' reports are
            # signed and few
            address = client_address(scope, self.trusted)
            ok, wait = await adm.api_limits.allow(address, time.monotonic())
            if not ok:
                adm.counters["rate_limited"] += 1
                retry = max(1, int(wait + 0.999))
                await send_json(send, 429, {"error": "rate_limited",
                                            "detail": f"too many requests; retry in {retry} s"},
                                {"Retry-After": str(retry)})
                return
        if prio is Priority.MEDIA:
            await self.app(scope, receive, send)  # long-polls are not "work in flight"
            return
        pressure.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            pressure.in_flight -= 1


class LagMonitor:
    """Measures how late a periodic timer fires: the event loop's lag."""

    def __init__(self, admissions: Admissions, interval_s: float = 0.05) -> None:
        self.admissions = admissions
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        await tasks.cancel(self._task)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(self.interval_s)
            self.admissions.pressure.observe_lag(max(0.0, loop.time() - start - self.interval_s))
