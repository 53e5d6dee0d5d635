"""Pools of distinct loopback source addresses, 127.A.B.C, to look like many clients.

Linux routes all of 127.0.0.0/8 to `lo`, so a socket bound to any 127.x.y.z reaches a
loopback server with that peer address. A pool fills `per_network` hosts of a /24 before
moving to the next /24, so its size and its spread over networks (the unit of the origin's
per-network limits) are both chosen. Sans-IO: only computes addresses; never binds.
"""

from __future__ import annotations

from dataclasses import dataclass

from townhall.loadtest.safety import check_source

MAX_HOSTS_PER_NETWORK = 254  # .1 .. .254 of each /24


@dataclass(frozen=True)
class AddressPool:
    second_octet: int  # 127.<second_octet>.0.0 is the first /24
    count: int  # distinct addresses
    per_network: int = MAX_HOSTS_PER_NETWORK  # hosts used in each /24

    def __post_init__(self) -> None:
        if not 1 <= self.per_network <= MAX_HOSTS_PER_NETWORK:
            raise ValueError(f"per_network must be 1..{MAX_HOSTS_PER_NETWORK}")
        if self.count < 1:
            raise ValueError("an address pool needs at least one address")
        if not 1 <= self.second_octet <= 255:
            raise ValueError("second_octet must be 1..255 (127.0.x.y is left to the system)")
        if self.second_octet + (self.networks - 1) // 256 > 255:
            raise ValueError(f"{self.count} addresses do not fit from 127.{self.second_octet}.0.0")

    @property
    def networks(self) -> int:
        """How many /24s the pool spans."""
        return -(-self.count // self.per_network)

    def address(self, index: int) -> str:
        """The pool's address number `index` (wrapping around), always 127.x.y.z."""
        k = index % self.count
        net, host = divmod(k, self.per_network)
        return check_source(f"127.{self.second_octet + net // 256}.{net % 256}.{1 + host}")
