"""The limiter interface the edges call: async, so a shared (Redis) budget can sit behind it."""

from __future__ import annotations

from typing import Protocol

from townhall.admission.rate_limit import ClientLimiter


class Limiter(Protocol):
    async def allow(self, address: str, now: float) -> tuple[bool, float]: ...


class LocalLimiter:
    """The in-process budget (one origin), behind the async interface."""

    def __init__(self, inner: ClientLimiter) -> None:
        self.inner = inner

    async def allow(self, address: str, now: float) -> tuple[bool, float]:
        return self.inner.allow(address, now)
