"""Per-client and per-network request rate limits (GCRA), sans-IO and bounded in memory.

GCRA keeps one number per key (the theoretical arrival time), so a million keys cost a
million floats. Keys are an address and its network (/24 for IPv4, /48 for IPv6), so one
machine with many addresses in a network still shares one budget. Never blocks; the caller
answers 429 with the Retry-After it returns.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    per_second: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst < 1:
            raise ValueError("a rate needs per_second > 0 and burst >= 1")


class Gcra:
    def __init__(self, rate: Rate, max_keys: int = 1_000_000) -> None:
        self.rate = rate
        self.max_keys = max_keys
        self._tat: OrderedDict[str, float] = OrderedDict()

    def allow(self, key: str, now: float) -> tuple[bool, float]:
        """(allowed, seconds to wait before the next request would be)."""
        interval = 1.0 / self.rate.per_second
        tolerance = interval * (self.rate.burst - 1)
        tat = max(self._tat.get(key, now), now)
        if tat - now > tolerance:
            return False, tat - now - tolerance
        self._tat[key] = tat + interval
        self._tat.move_to_end(key)
        if len(self._tat) > self.max_keys:
            self._tat.popitem(last=False)  # forget the least recently seen client
        return True, 0.0


def network_of(address: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) network of an address; the address itself if unparsable."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


class ClientLimiter:
    """One budget per address and a larger one per network; both must allow."""

    def __init__(self, per_address: Rate, per_network: Rate, max_keys: int = 1_000_000) -> None:
        self.address = Gcra(per_address, max_keys)
        self.network = Gcra(per_network, max_keys)

    def allow(self, address: str, now: float) -> tuple[bool, float]:
        ok, wait = self.address.allow(address, now)
        if not ok:
            return False, wait
        return self.network.allow(network_of(address), now)
