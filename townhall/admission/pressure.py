"""Overload policy: which request classes to shed, from measured pressure. Sans-IO.

Classes, most important first: MEDIA, ADMISSION (join, waiting room), STATUS (details),
WRITES (reactions, hand raises), OTHER. Pressure is the event loop's lag (how late a
periodic timer fires) and requests in flight. Each class has a lag and an in-flight ceiling;
the lower the class, the lower its ceilings, so the least important work is shed first and
media last. Shedding is an immediate 503 with Retry-After, never a timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Priority(IntEnum):
    MEDIA = 0
    ADMISSION = 1
    STATUS = 2
    WRITES = 3
    OTHER = 4


def classify(method: str, path: str) -> Priority:
    if path == "/healthz":
        return Priority.MEDIA  # alive is alive: an overloaded origin must not be restarted
    if path in ("/readyz", "/metrics"):
        return Priority.ADMISSION  # the operator must see an overloaded origin
    if path.startswith("/live/") and path.endswith("/master.m3u8") and "/t/" not in path:
        return Priority.ADMISSION  # the entry URL for standard players is a join
    if path.startswith("/replay/") and "/clip" in path:
        return Priority.OTHER  # a new clip is signed per request: work, not media
    if path.startswith(("/live/", "/replay/")):
        return Priority.MEDIA
    if path.startswith("/api/spaces/") and path.endswith(("/join", "/challenge", "/leave")):
        return Priority.ADMISSION
    if path.startswith("/api/admit/"):
        return Priority.ADMISSION  # a join with a grant, on any origin
    if path.startswith("/api/spaces/") and path.endswith("/audience"):
        return Priority.ADMISSION  # origins' listener counts: few, and they keep caps honest
    if path.startswith(("/whip/", "/ingest/")):
        return Priority.ADMISSION  # a speaker or source going live is not background traffic
    if path.startswith("/api/admin/"):
        return Priority.ADMISSION  # the operator must be able to look and act mid-attack
    if method == "GET" and (path.startswith("/api/spaces") or path.startswith("/spaces/")
                            or path.startswith("/static/") or path == "/"
                            or path.startswith(("/record/", "/.well-known/"))):
        return Priority.STATUS
    if method in ("POST", "PUT", "PATCH", "DELETE") and path.startswith("/api/"):
        return Priority.WRITES
    return Priority.OTHER


@dataclass(frozen=True)
class Ceiling:
    lag_s: float  # shed this class when the loop lag exceeds this
    in_flight: int  # ... or when this many requests of any class are in flight


DEFAULT_CEILINGS: dict[Priority, Ceiling] = {
    Priority.MEDIA: Ceiling(lag_s=5.0, in_flight=100_000),
    Priority.ADMISSION: Ceiling(lag_s=0.5, in_flight=4_000),
    Priority.STATUS: Ceiling(lag_s=0.25, in_flight=2_000),
    Priority.WRITES: Ceiling(lag_s=0.1, in_flight=1_000),
    Priority.OTHER: Ceiling(lag_s=0.05, in_flight=500),
}


class Pressure:
    def __init__(self, ceilings: dict[Priority, Ceiling] | None = None,
                 smoothing: float = 0.3) -> None:
        self.ceilings = ceilings or DEFAULT_CEILINGS
        self.smoothing = smoothing
        self.lag_s = 0.0
        self.in_flight = 0
        self.shed: dict[Priority, int] = {p: 0 for p in Priority}

    def observe_lag(self, lag_s: float) -> None:
        # rise fast, fall smoothly: one late tick is enough to start shedding the least work
        if lag_s > self.lag_s:
            self.lag_s = lag_s
        else:
            self.lag_s += self.smoothing * (lag_s - self.lag_s)

    def admit(self, priority: Priority) -> bool:
        c = self.ceilings[priority]
        if self.lag_s > c.lag_s or self.in_flight >= c.in_flight:
            self.shed[priority] += 1
            return False
        return True

    def retry_after(self, priority: Priority) -> int:
        return 1 + int(priority)  # less important work comes back later
