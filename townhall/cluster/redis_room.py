"""A capped space's seats and waiting room in Redis: one line for the whole cluster.

Adapter behind `admission.room.Room`, with the same rules as the in-process `WaitingRoom`
(FIFO by arrival, a place kept while polled within `poll_grace`, a granted seat held for
`poll_grace`, the cap counted over seats, provisional seats and grants; seats paid with value:
a new seat is provisional for `provisional_s` until its holder comes back, one network holds
at most its share of the cap, and a newcomer that cannot wait evicts a provisional seat before
it is refused), but every origin reads and changes the same state, each call one Lua script
(atomic): any origin answers a waiter's poll with the same position, admits in one global
order and holds the cap and the shares cluster-wide. A waiter whose origin died polls another
one with its token and keeps its place. Times are the callers' wall clocks (origins keep NTP
time; seats live for minutes).

Keys (`townhall:room:{space}:` prefix, one hash slot): `seats` (zset seat -> expiry), `prov`
(zset provisional seat -> expiry), `granted` (zset token -> hold expiry), `queue` (zset token
-> arrival serial), `polled` (zset token -> last poll), `network` (hash seat or waiting token
-> its /24 or /64), `held` (hash network -> seats it holds), `serial`, `freed` (list of recent
free times, for the ETA), `admitted`, `born` (a mark of when the state began). Every key
expires a day after the room's last call.

Redis away (the cluster's "joins degrade" policy): renewals of genuine tickets are answered here
and the seats are written back to Redis when it answers again (also past the cap, which then
drains); waiters keep their place and are told their last position (nobody is admitted from the
line meanwhile); new joins go to this origin's own room with the seats that were free when
Redis was last seen (each origin may fill them: at most origins x free seats over the cap),
and their waiters join the shared line, at its back, once Redis is back. Counted in `degraded`.
Redis restarted empty (a new `born`): for one seat lifetime each origin takes back, as their
holders call, the seats of genuine tickets (past the cap if need be) and the places it knew
(at the back of the new line, in the order they poll). Each comes back counted in its network's
share: every origin remembers the network of the seats and places it admitted, queued or
renewed (Redis names it in each answer; bounded, like the places), and a seat it never saw
counts in the network of whoever renews it now.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections import OrderedDict
from typing import Any

from redis.asyncio.client import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from townhall.admission.shares import network_share, share_key
from townhall.admission.waiting_room import (
    Admitted,
    Outcome,
    Queued,
    Refused,
    Unknown,
    WaitingRoom,
)
from townhall.cluster.base import ClusterUnavailable
from townhall.cluster.room_script import room_keys

log = logging.getLogger("townhall.cluster.room")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisRoom:
    def __init__(self, client: Redis, script: AsyncScript, space_id: str,
                 local: WaitingRoom) -> None:
        self.client = client
        self.script = script
        self.keys = room_keys(space_id)
        self.cap = local.cap
        self.seat_ttl = local.seat_ttl
        self.poll_grace = local.poll_grace
        self.max_queue = local.max_queue
        self.provisional_s = local.provisional_s or 0.0
        self.share_fraction, self.share_floor = local.share_fraction, local.share_floor
        self.fallback = local  # this origin's own room, used only while Redis is away
        self._occupied = 0
        self._queued = 0
        self._down = False
        self._kept: dict[str, float] = {}  # seats answered here while Redis was away
        self._positions: OrderedDict[str, int] = OrderedDict()  # last known, for an outage
        # seat or waiting token -> its network, as Redis or the caller named it: what a seat
        # or a place taken back after Redis lost them is counted in (the shares hold)
        self._networks: OrderedDict[str, str] = OrderedDict()
        self._freed = (0, 0.0, 0.0)  # seats freed in the last minute, the first when, now
        self._born: str | None = None  # the room state's birth this origin last saw
        self._rebuild_until = 0.0  # Redis lost the room: readmit the seats and places it had
        self.degraded = 0  # calls answered without Redis
        self._provisional = 0  # provisional seats in the whole room, as last seen
        self.confirmed_total = 0  # provisional seats confirmed through this origin
        self.evicted_total = 0  # provisional seats evicted by newcomers at this origin
        self.share_refused_total = 0  # joins at this origin refused: their network's share

    @property
    def occupied(self) -> int:
        return self._occupied

    @property
    def queued(self) -> int:
        return self._queued

    @property
    def provisional(self) -> int:
        """Provisional seats in the whole room (cluster-wide), as the last call saw."""
        return self._provisional

    @property
    def unshared_occupied(self) -> int:
        return self.fallback.occupied if self._down else 0

    def tick(self, now: float) -> None:
        return None

    async def refresh(self, now: float) -> None:
        with contextlib.suppress(ClusterUnavailable):
            await self._run("stats", now)

    async def join(self, now: float, address: str = "", wait: bool = True) -> Outcome:
        """A newcomer from `address` asks in: the share, the provisional seat and the
        eviction are decided in the script, cluster-wide."""
        net = self._network_of(address)
        token = secrets.token_hex(8)
        try:
            out = await self._outcome("join", now, token=token, net=net, wait=wait)
        except ClusterUnavailable:
            out = self._kept_if_admitted(self.fallback.join(now, address, wait))
        if isinstance(out, Queued):
            self._remember(out.token, net)
        elif isinstance(out, Admitted):
            self._remember(out.seat, net)
        return out

    async def poll(self, token: str, now: float) -> Outcome:
        known = token in self._positions
        try:
            out = await self._outcome("poll", now, token=token)
            if isinstance(out, Unknown) and (self.fallback.withdraw(token) or (
                    known and now < self._rebuild_until)):
                # queued here while Redis was away, or in a line Redis lost: back in line,
                # in its own network
                out = await self._outcome("join", now, token=token,
                                          net=self._networks.get(token, ""))
            return out
        except ClusterUnavailable:
            if token in self._positions:
                return Queued(token, self._positions[token], None)
            out = self._kept_if_admitted(self.fallback.poll(token, now))
            if isinstance(out, Admitted):
                self._remember(out.seat, self._networks.get(token, ""))
            return out

    async def renew(self, seat: str, now: float, address: str = "") -> Admitted | None:
        """Extend a seat (`address`: who renews it, for a seat this origin never saw)."""
        net = self._networks.get(seat) or self._network_of(address)
        try:
            kind, _, expires = await self._run("renew", now, seat=seat, net=net,
                                               keep=seat in self._kept
                                               or now < self._rebuild_until)
        except ClusterUnavailable:  # the ticket is genuine (checked by the caller): keep it
            self._kept[seat] = now + self.seat_ttl
            self._remember(seat, net)
            return Admitted(seat, now + self.seat_ttl)
        self._kept.pop(seat, None)
        return Admitted(seat, float(expires)) if kind == "r" else None

    async def leave(self, seat: str, now: float) -> None:
        self._kept.pop(seat, None)
        self._networks.pop(seat, None)
        try:
            await self._run("leave", now, seat=seat)
        except ClusterUnavailable:
            self.fallback.leave(seat, now)

    # --- internals ---
    def _network_of(self, address: str) -> str:
        return share_key(address) if address and self.cap is not None else ""

    def _remember(self, key: str, net: str) -> None:
        """Keep the network of a seat or a place (bounded, the oldest forgotten first)."""
        if not net:
            return
        self._networks[key] = net
        self._networks.move_to_end(key)
        while len(self._networks) > 100_000:
            self._networks.popitem(last=False)

    async def _outcome(self, op: str, now: float, token: str = "", net: str = "",
                       wait: bool = True) -> Outcome:
        kind, a, b = await self._run(op, now, token=token, net=net, wait=wait)
        if kind == "a":
            self._positions.pop(token, None)
            self._networks.pop(token, None)
            return Admitted(a, float(b))
        if kind == "q":
            self._positions[a] = int(b)
            self._positions.move_to_end(a)
            while len(self._positions) > 100_000:
                self._positions.popitem(last=False)
            return Queued(a, int(b), self._eta(int(b)))
        self._positions.pop(token, None)
        if kind == "h":
            self.share_refused_total += 1
            return Refused("network_share", self._retry_after())
        if kind == "u":
            return Refused("full", self._retry_after())
        if kind == "f":
            return Unknown("the waiting room is full; try again later")
        return Unknown("no such place in the queue (expired or never issued); join again")

    def _share(self) -> int:
        """How many seats one network may hold (-1: no cap, no share)."""
        if self.cap is None:
            return -1
        return network_share(self.cap, self.share_fraction, self.share_floor)

    def _retry_after(self) -> float:
        return max(1.0, min(30.0, self.provisional_s or self.poll_grace))

    async def _run(self, op: str, now: float, *, token: str = "", seat: str = "",
                   keep: bool = False, net: str = "",
                   wait: bool = True) -> tuple[str, str, str]:
        cap = -1 if self.cap is None else self.cap
        args: list[str | int | float] = [op, f"{now:.3f}", cap, self.seat_ttl, self.poll_grace,
                                         self.max_queue, secrets.token_hex(8), token, seat,
                                         "1" if keep else "0", secrets.token_hex(4),
                                         self.provisional_s, self._share(), net,
                                         "1" if wait else "0"]
        try:
            got = await self.script(keys=self.keys, args=args, client=self.client)
        except (RedisError, OSError) as exc:
            self._went_down(exc)
            raise ClusterUnavailable(str(exc)) from None
        if self._down:
            self._down = False
            log.warning("waiting room shared again (%d calls answered alone)", self.degraded)
        kind, a, b = _text(got[0]), _text(got[1]), _text(got[2])
        self._occupied, self._queued = int(got[3]), int(got[4])
        self._provisional = int(got[8])
        event = _text(got[9])
        if event == "c":
            self.confirmed_total += 1
        elif event == "e":
            self.evicted_total += 1
        born = _text(got[7])
        if self._born is not None and born != self._born:
            # Redis restarted empty: for one seat lifetime, the genuine tickets' seats and
            # the places this origin knew are taken back as their holders call
            self._rebuild_until = now + self.seat_ttl
            log.warning("waiting room lost by Redis (restarted empty): seats and places are "
                        "taken back for %.0f s", self.seat_ttl)
        self._born = born
        self._freed = (int(got[5]), float(got[6]), now)
        if kind in ("a", "r") and len(got) > 10:
            self._remember(a, _text(got[10]))  # the seat's network, as Redis counts it
        return kind, a, b

    def _went_down(self, exc: Exception) -> None:
        self.degraded += 1
        if self._down:
            return
        self._down = True
        free = 0 if self.cap is None or self._queued else max(0, self.cap - self._occupied)
        # this origin's own room may fill the seats that were free, on top of its own
        self.fallback.cap = self.fallback.occupied + free
        log.warning("waiting room without Redis (%s): joins degrade to this origin, "
                    "%d free seats", exc, free)

    def _kept_if_admitted(self, out: Outcome) -> Outcome:
        if isinstance(out, Admitted):
            self._kept[out.seat] = out.expires
        return out

    def _eta(self, position: int) -> float | None:
        recent, earliest, now = self._freed
        if recent < 2:
            return None
        return round(position / (recent / max(1.0, now - earliest)), 1)
