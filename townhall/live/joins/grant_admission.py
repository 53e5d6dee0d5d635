"""Grant admission: a big uncapped space's joins and renewals, answered by any origin.

Service. The details of an open space carry a signed join grant (`admission.grants`); with
it, `POST /api/admit/{id}` on any origin (the edge sends it to any) checks the grant, issues a
ticket with the ordinary signer and counts the seat until it lapses. A grant seat's lapsed
but genuine ticket plays on as a waiting room seat's does (`renew_lapsed`, for
live/joins/player_tickets.py): renewed while held here, or, unknown here, while the space
gives grants and the seat would still be held; never once given back here. Every
`audience_report_s` each origin shares its listeners of each space (grant seats and tickets
from its waiting room) through the cluster (`Cluster.report_listeners`: Redis, or memory
alone), and reads the others', so every origin's details count every listener. Rate limits
are the join limits; without a grant (capped, attack mode, ended) clients join at the origin
the edge picks for the space.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time

from townhall.admission.grants import GrantError, JoinGrants
from townhall.admission.seat_count import GRANT_SEAT_PREFIX, SeatCount
from townhall.admission.tickets import Check
from townhall.admission.waiting_room import Admitted, renewal_lifetime
from townhall.cluster.base import Cluster, ClusterUnavailable
from townhall.live import tasks
from townhall.live.errors import SpaceError
from townhall.live.joins.admissions import Admissions, Answer
from townhall.live.registry.spaces import LiveSpace, Spaces
from townhall.settings import Settings
from townhall.space.lifecycle import Phase

log = logging.getLogger("townhall.grant_admission")


class GrantAdmission:
    def __init__(self, settings: Settings, spaces: Spaces, admissions: Admissions,
                 cluster: Cluster) -> None:
        self.settings = settings
        self.spaces = spaces
        self.admissions = admissions
        self.cluster = cluster
        self.grants = JoinGrants(settings.recording.secret)
        self.origin = cluster.origin
        self.seats: dict[str, SeatCount] = {}
        self._task: asyncio.Task[None] | None = None

    # --- the grant in the details ---
    def grant_for(self, space: LiveSpace, listeners: int, now: float) -> str | None:
        """The grant for the details of `space`, which has `listeners` in all now."""
        if not self._gives_grants(space, now):
            return None
        return self.grants.issue(space.record.id, self._lifetime(space, listeners), now,
                                 self.settings.admission.grant_valid_s)

    def _gives_grants(self, space: LiveSpace, now: float) -> bool:
        r = space.record
        return r.listener_cap is None and r.phase is not Phase.ENDED \
            and not self.admissions.attack.active(now)

    def _lifetime(self, space: LiveSpace, listeners: int) -> float:
        a = self.settings.admission
        return renewal_lifetime(listeners, space.room.seat_ttl, a.seat_ttl_max_s,
                                a.renewals_per_s_per_space)

    # --- any origin: admit with a grant ---
    async def admit(self, space_id: str, grant: str, renew: str | None, address: str,
                    now: float, seat_secret: str | None = None) -> Answer:
        adm = self.admissions
        refused = await adm.over_join_budget(address)
        if refused is not None:
            return refused
        try:
            ttl = self.grants.check(grant, space_id, now)
        except GrantError as exc:
            adm.counters["grant_refused"] += 1
            return 403, {"error": exc.code, "detail": exc.detail}, None
        seat = None
        if renew:
            verdict, held = adm.signer.check(space_id, renew, now)
            if held is not None and (verdict is Check.VALID or (
                    verdict is Check.EXPIRED and self._holds(space_id, held, now))):
                try:
                    adm.check_holder(space_id, held, seat_secret)
                except SpaceError as exc:
                    return exc.status, {"error": exc.code, "detail": exc.message}, None
                seat = held
        renewed = seat is not None
        seat = seat or GRANT_SEAT_PREFIX + secrets.token_hex(8)
        expires = now + ttl
        self._count(space_id).hold(seat, expires, now)
        adm.counters["renewed_anywhere" if renewed else "admitted_anywhere"] += 1
        return 200, adm.ticket_answer(space_id, seat, expires, now), None

    def _count(self, space_id: str) -> SeatCount:
        counted = self.seats.get(space_id)
        if counted is None:  # given-back seats remembered as many as lapsed answers are kept
            counted = self.seats[space_id] = SeatCount(
                self.settings.admission.lapsed_tickets_max)
        return counted

    def _holds(self, space_id: str, seat: str, now: float) -> bool:
        counted = self.seats.get(space_id)
        return counted is not None and counted.held(seat, now)

    def renew_lapsed(self, space: LiveSpace, seat: str, ticket_expires: int,
                     now: float) -> Admitted | None:
        """The grant seat of a lapsed but genuine ticket renewed, so the player plays on at the
        ticket's URLs (live/joins/player_tickets.py); None once the seat is gone. Held here:
        renewed. Unknown here (another origin admitted it, or this one restarted): renewed as
        a join with a grant would be, while the space gives grants and the seat would still be
        held (the ticket lapsed no longer ago than a seat outlives its ticket). Given back
        here: gone."""
        sid = space.record.id
        counted = self.seats.get(sid)
        if counted is not None and counted.gone(seat, now):
            return None
        if counted is None or not counted.held(seat, now):
            outlives = min(self.settings.admission.ticket_grace_s, space.room.seat_ttl / 2)
            if not self._gives_grants(space, now) or now > ticket_expires + outlives:
                return None
        expires = now + self._lifetime(space, self.spaces.listeners_now(space, now))
        self._count(sid).hold(seat, expires, now)
        return Admitted(seat, expires)  # counted `player_renewed` by the caller

    def leave(self, space_id: str, seat: str, now: float) -> None:
        """A grant seat given back: its lapsed ticket is refused here from now on (for as
        long as any ticket of it could still be answered)."""
        counted = self.seats.get(space_id)
        if counted is not None:
            counted.leave(seat, now + self.settings.admission.seat_ttl_max_s)

    # --- counts: shared through the cluster ---
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._share_loop())

    async def close(self) -> None:
        await tasks.cancel(self._task)

    async def _share_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.admission.audience_report_s)
            try:
                await self.share(time.time())
            except ClusterUnavailable as exc:  # counts go stale, joins go on
                log.info("listener counts not shared: %s", exc)

    async def share(self, now: float) -> None:
        """Report this origin's listeners of each live space; read the other origins'."""
        ttl = self.settings.admission.audience_fresh_s
        for space in self.spaces.all():
            sid = space.record.id
            if space.record.phase is not Phase.LIVE and sid not in self.seats:
                continue
            counted = self.seats.get(sid)
            mine = counted.count(now) if counted is not None else 0
            self.spaces.report_audience(sid, self.origin, mine, now)
            await space.room.refresh(now)  # a shared room's numbers, for the details
            await self.cluster.report_listeners(sid, mine + space.room.unshared_occupied, ttl)
            for origin, count in (await self.cluster.listeners(sid)).items():
                if origin != self.origin:
                    self.spaces.report_audience(sid, origin, count, now)
            if counted is not None and counted.idle(now):
                del self.seats[sid]
