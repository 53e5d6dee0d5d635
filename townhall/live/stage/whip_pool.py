"""The WHIP session pool: how many WebRTC sessions this origin holds, shared per network,
with a few slots kept for the operator.

Service core (no I/O but the metrics and the log). WHIP sessions are a pool of their own,
with a per-network share (`admission.network_pool`, `whip_max_sessions`,
`whip_sessions_per_network`): the WHIP edge takes a slot for the caller's address once its
token is known and before the offer is read (`take`); a session holds it until it ends and is
provisional until its first audio decodes (`heard`). A network past its share, or a full
pool, ends the oldest session without audio (of that network, or of the network holding the
most) for the newcomer, or the newcomer is refused (429 network_share, 503 whip_full, with
Retry-After): counted, logged, exported. The last `whip_operator_reserved` slots are the
operator's (`operator_offer`): an offer for a space the operator's admin key created
(`is_operator`, from live.registry.hosting: the same owner test that gives the operator its
reserved program slots), by its host key or a speaker or co-host seat its host invited or
approved (never a raised hand), one slot per seat at a time. Such an offer has no network
share and, at a full pool, ends a session without audio that is not the operator's before
it is refused; nobody else takes a reserved slot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from townhall.admission.network_pool import NetworkPool, network_of
from townhall.live.errors import SpaceError
from townhall.live.stage.space_speakers import SpeakerSession
from townhall.ops import metrics
from townhall.settings import Settings
from townhall.space.roles import Role, Seat, SeatState

if TYPE_CHECKING:
    from townhall.live.registry.live_space import LiveSpace

log = logging.getLogger("townhall.speakers")


class WhipPool:
    def __init__(self, settings: Settings,
                 is_operator: Callable[[LiveSpace], bool] | None = None) -> None:
        self.settings = settings
        self.pool = NetworkPool(settings.stage.whip_max_sessions,
                                settings.stage.whip_sessions_per_network,
                                settings.stage.whip_operator_reserved)
        self._slots: dict[int, SpeakerSession] = {}  # pool slot -> its session, once made
        # is the space the operator's (created with the admin key)? (live.registry.hosting)
        self.is_operator = is_operator
        self._operator_slots: dict[int, str] = {}  # the operator's pool slot -> its seat
        self.refused_share = 0  # offers refused a slot (network_share, whip_full)
        self.evicted_share = 0  # sessions without audio ended for a newcomer's slot

    def operator_offer(self, space: LiveSpace, seat: Seat) -> str | None:
        """The seat's key (space/seat) if an offer from it may take the operator's reserved
        WHIP slots: the space is the operator's (created with the admin key) and the seat is
        its host, or a speaker or co-host its host invited or approved, that may go live
        (INVITED); else None. A raised hand, a removed seat or one already live (its offer
        is refused 409) gets no reserve."""
        if self.is_operator is None or seat.role is Role.LISTENER:
            return None
        if seat.state is not SeatState.INVITED:
            return None
        return f"{space.record.id}/{seat.id}" if self.is_operator(space) else None

    def take(self, address: str, operator_seat: str | None = None) -> int:
        """A slot of the WHIP session pool for an offer from `address`, taken before its body
        is read; a session without audio is ended to make room if the pool's rules say so
        (admission.network_pool). `operator_seat` (`operator_offer`): the offer may take the
        operator's reserved slots, one at a time per seat (a second offer from the same
        seat, while the first holds its slot, is anyone's). Raises SpaceError 429
        network_share / 503 whip_full."""
        if operator_seat is not None and operator_seat in self._operator_slots.values():
            operator_seat = None
        operator = operator_seat is not None
        slot, arrival = self.pool.arrive(address, operator=operator)
        if not arrival.admitted:
            share = arrival.refusal == "address_share"
            code = "network_share" if share else "whip_full"
            self.refused_share += 1
            metrics.WHIP_SESSIONS_REFUSED.labels(code).inc()
            retry = max(1.0, self.settings.stage.whip_setup_timeout_s)
            log.warning("WHIP offer from %s%s refused: %s (%d sessions, %d without audio, "
                        "%d the operator's)", address, " (the operator's)" if operator else "",
                        code, len(self.pool), self.pool.provisional, self.pool.operator)
            self._gauge()
            if share:
                raise SpaceError(429, code, f"your network ({network_of(address)}) already "
                                 f"holds {self.settings.stage.whip_sessions_per_network} WHIP "
                                 f"sessions with audio on this server; retry in {retry:.0f} s",
                                 retry_after=retry)
            raise SpaceError(503, code, "this server holds as many WHIP sessions as it may; "
                             f"retry in {retry:.0f} s", retry_after=retry)
        if arrival.evict is not None:
            # network_share, pool_full, or operator (a full pool, and the operator came)
            reason = ("network_share" if arrival.evicted_for == "address_share"
                      else arrival.evicted_for or "pool_full")
            victim = self._slots.pop(arrival.evict, None)
            self.evicted_share += 1
            metrics.WHIP_SESSIONS_EVICTED.labels(reason).inc()
            log.warning("WHIP session %s without audio ended for a newcomer from %s (%s)",
                        victim.id if victim else "(being set up)", address, reason)
            if victim is not None and victim.cut_off is None:
                victim.cut_off = f"evicted: {reason}"  # the watchdog ends it within 0.25 s
        if operator_seat is not None:
            self._operator_slots[slot] = operator_seat
        self._gauge()
        return slot

    def holds(self, slot: int) -> bool:
        """The slot is still this offer's (not given to a newer one while it was read)."""
        return self.pool.holds(slot)

    def bind(self, slot: int, session: SpeakerSession) -> None:
        """The slot's session exists: a newcomer that evicts the slot ends it."""
        self._slots[slot] = session

    def heard(self, slot: int) -> None:
        """The slot's session decoded audio: no longer evicted for others."""
        self.pool.authorised(slot)
        self._gauge()

    def release(self, slot: int) -> None:
        """The slot's offer was refused, or its session ended."""
        self._slots.pop(slot, None)
        self._operator_slots.pop(slot, None)
        self.pool.leave(slot)
        self._gauge()

    def _gauge(self) -> None:
        provisional = self.pool.provisional
        metrics.WHIP_SESSIONS.labels("provisional").set(provisional)
        metrics.WHIP_SESSIONS.labels("audio").set(len(self.pool) - provisional)
