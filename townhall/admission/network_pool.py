"""Who may hold a slot of a bounded pool with a per-network share: the ingest port's
connections, and the origin's WHIP sessions. Sans-IO.

The ingest port's connections are a scarce resource an outsider can hold for nothing: a TCP
connection that never finishes its head costs the attacker one socket and the origin one slot.
With one global cap, 300 anonymous idle sockets made every new Icecast source get 503. WHIP
sessions are the same over WebRTC (each holds a peer connection, UDP sockets and a decoder):
with no share of their own, one /24 could take every one. So (the rules of the table, checked
on every arrival; "connection" below is a slot of either pool):

  - every connection starts *provisional* (no head yet, or a head not yet authorised; a WHIP
    session whose audio has not arrived) and becomes *authorised* once it showed value: the
    space service accepted its key, or its first audio decoded (`authorised()`);
  - a network (/24 for IPv4, /64 for IPv6: one subscriber, one NAT) holds at most
    `per_network` connections; an arrival past its network's share evicts that network's
    oldest provisional connection, or is refused (`address_share`) if all of them are
    authorised;
  - when the pool holds `max_total`, an arrival evicts the oldest provisional connection of
    the network holding the most, or is refused (`pool_full`) only when every connection in
    the pool is authorised: an idle, unauthenticated holder never keeps out a source with a
    key;
  - the newest provisional connection is evicted last, so a real source, which sends its
    head at once, is authorised long before an idle flood reaches it.

Time is not read here: the edge bounds how long a connection may stay provisional (the head
timeout, whip_setup_timeout_s). No I/O; the edge (ingest.icecast, live.stage.speakers)
closes what this returns as evicted.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass, field


def network_of(address: str) -> str:
    """The share key of a peer address: its /24 (IPv4) or /64 (IPv6); IPv4-mapped IPv6 is
    IPv4. Anything that is not an IP address (a Unix socket) shares one key."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "other"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


@dataclass(frozen=True)
class Arrival:
    admitted: bool
    evict: int | None = None  # a provisional connection to close to make room
    refusal: str | None = None  # "address_share" or "pool_full" when not admitted


@dataclass
class NetworkPool:
    max_total: int
    per_network: int
    _network: dict[int, str] = field(default_factory=dict)  # connection -> network
    _provisional: dict[int, None] = field(default_factory=dict)  # insertion order = age
    _done: dict[int, None] = field(default_factory=dict)  # answered, closing: evicted first
    _count: Counter[str] = field(default_factory=Counter)
    _next: int = 0

    def __len__(self) -> int:
        return len(self._network)

    @property
    def provisional(self) -> int:
        return len(self._provisional) + len(self._done)

    def held(self, address: str) -> int:
        """How many connections the network of `address` holds now."""
        return self._count.get(network_of(address), 0)

    def _oldest_provisional(self, network: str | None) -> int | None:
        for conn in (*self._done, *self._provisional):  # closing ones, then oldest first
            if network is None or self._network[conn] == network:
                return conn
        return None

    def arrive(self, address: str) -> tuple[int, Arrival]:
        """A new connection from `address`: its id, and whether it is admitted (and which
        provisional connection the edge must close first to make room)."""
        net = network_of(address)
        evict: int | None = None
        if self._count[net] >= self.per_network:
            evict = self._oldest_provisional(net)
            if evict is None:
                return -1, Arrival(False, refusal="address_share")
        elif len(self._network) >= self.max_total:
            evict = next(iter(self._done), None)  # answered and closing: first
            crowded = [] if evict is not None else [n for n, _ in self._count.most_common()]
            for candidate in crowded:
                evict = self._oldest_provisional(candidate)
                if evict is not None:
                    break
            if evict is None:
                return -1, Arrival(False, refusal="pool_full")
        if evict is not None:
            self.leave(evict)
        conn = self._next
        self._next += 1
        self._network[conn] = net
        self._provisional[conn] = None
        self._count[net] += 1
        return conn, Arrival(True, evict=evict)

    def authorised(self, conn: int) -> None:
        """The connection's key was accepted: it is no longer evictable."""
        self._provisional.pop(conn, None)

    def finished(self, conn: int) -> None:
        """Its answer is out and it is only being closed (lingering): evicted before any
        other."""
        if conn in self._network:
            self._provisional.pop(conn, None)
            self._done[conn] = None

    def holds(self, conn: int) -> bool:
        return conn in self._network

    def leave(self, conn: int) -> None:
        net = self._network.pop(conn, None)
        if net is None:
            return
        self._provisional.pop(conn, None)
        self._done.pop(conn, None)
        self._count[net] -= 1
        if self._count[net] <= 0:
            del self._count[net]
