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
    head at once, is authorised long before an idle flood reaches it;
  - the last `reserved` slots are the operator's (`arrive(..., operator=True)`): nobody else
    may take them, whatever they hold. An operator's arrival has no network share (it is
    not its network's: an attacker beside the operator on one /24 must not lock it out),
    is admitted while the whole pool has room, and when the pool holds `max_total` it
    evicts a provisional connection that is not the operator's (closing ones first, then
    the oldest of the busiest network) before it is refused (`pool_full`). The operator's
    connections are never evicted for anyone, and fill the reserved slots first: while
    the operator holds fewer than `reserved`, the others still have all the rest.

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
    # why `evict` was chosen: "address_share" (the arrival's network held its share),
    # "pool_full", or "operator" (the pool was full and the operator arrived)
    evicted_for: str | None = None


@dataclass
class NetworkPool:
    max_total: int
    per_network: int
    reserved: int = 0  # of max_total, slots only the operator's arrivals may take
    _network: dict[int, str] = field(default_factory=dict)  # connection -> network
    _provisional: dict[int, None] = field(default_factory=dict)  # insertion order = age
    _done: dict[int, None] = field(default_factory=dict)  # answered, closing: evicted first
    _count: Counter[str] = field(default_factory=Counter)
    _operator: dict[int, None] = field(default_factory=dict)  # never evicted, no share
    _next: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.reserved < self.max_total:
            raise ValueError("reserved must be at least 0 and below max_total")

    def __len__(self) -> int:
        return len(self._network)

    @property
    def provisional(self) -> int:
        return len(self._provisional) + len(self._done)

    @property
    def operator(self) -> int:
        """How many connections the operator holds now."""
        return len(self._operator)

    def held(self, address: str) -> int:
        """How many connections the network of `address` holds now (the operator's are
        not its network's)."""
        return self._count.get(network_of(address), 0)

    def _others_full(self) -> bool:
        """Whether the slots anyone may take are all held: the operator's connections fill
        the reserved slots first."""
        in_reserve = min(len(self._operator), self.reserved)
        return len(self._network) - in_reserve >= self.max_total - self.reserved

    def _oldest_provisional(self, network: str | None) -> int | None:
        for conn in (*self._done, *self._provisional):  # closing ones, then oldest first
            if conn in self._operator:
                continue
            if network is None or self._network[conn] == network:
                return conn
        return None

    def _crowded_provisional(self) -> int | None:
        """A provisional connection to end for a newcomer at a full pool: a closing one,
        else the oldest of the network holding the most (never the operator's)."""
        closing = next((c for c in self._done if c not in self._operator), None)
        if closing is not None:
            return closing
        for candidate, _ in self._count.most_common():
            evict = self._oldest_provisional(candidate)
            if evict is not None:
                return evict
        return None

    def arrive(self, address: str, *, operator: bool = False) -> tuple[int, Arrival]:
        """A new connection from `address` (`operator`: authorised by the operator, who
        may take the reserved slots): its id, and whether it is admitted (and which
        provisional connection the edge must close first to make room)."""
        net = network_of(address)
        evict: int | None = None
        reason: str | None = None
        if operator:
            if len(self._network) >= self.max_total:
                evict, reason = self._crowded_provisional(), "operator"
                if evict is None:
                    return -1, Arrival(False, refusal="pool_full")
        elif self._count[net] >= self.per_network:
            evict, reason = self._oldest_provisional(net), "address_share"
            if evict is None:
                return -1, Arrival(False, refusal="address_share")
        elif self._others_full():
            evict, reason = self._crowded_provisional(), "pool_full"
            if evict is None:
                return -1, Arrival(False, refusal="pool_full")
        if evict is not None:
            self.leave(evict)
        conn = self._next
        self._next += 1
        self._provisional[conn] = None
        if operator:
            self._network[conn] = "operator"
            self._operator[conn] = None
        else:
            self._network[conn] = net
            self._count[net] += 1
        return conn, Arrival(True, evict=evict, evicted_for=reason if evict is not None
                             else None)

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
        if conn in self._operator:  # the operator's: counted in no network
            del self._operator[conn]
            return
        self._count[net] -= 1
        if self._count[net] <= 0:
            del self._count[net]
