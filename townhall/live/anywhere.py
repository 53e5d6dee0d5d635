"""Admission on any origin: a big uncapped space's joins and renewals, spread over origins.

Service. The home origin signs a join grant into the space's details (`admission.grants`);
with it, `POST /api/admit/{id}` on any origin (the edge sends it to any) checks the grant,
issues a ticket with the ordinary signer and counts the seat until it lapses. Every
`audience_report_s` each origin reports its grant seats per space: to its own registry when
it is the home, else to the home through the edge (`POST /api/spaces/{id}/audience`, signed
with the shared secret), so the home's listener count includes every listener. Rate limits
are the join limits; without a grant (capped, attack mode, ended) clients join at the home.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import time

import httpx

from townhall.admission.grants import GrantError, JoinGrants
from townhall.admission.seat_count import SeatCount
from townhall.admission.tickets import Check
from townhall.admission.waiting_room import renewal_lifetime
from townhall.live.admissions import Admissions, Answer
from townhall.live.errors import SpaceError
from townhall.live.spaces import LiveSpace, Spaces
from townhall.settings import Settings
from townhall.space.lifecycle import Phase

log = logging.getLogger("townhall.anywhere")
MAX_SKEW_S = 30.0  # a count report older (or newer) than this is refused


class Anywhere:
    def __init__(self, settings: Settings, spaces: Spaces, admissions: Admissions) -> None:
        self.settings = settings
        self.spaces = spaces
        self.admissions = admissions
        self.grants = JoinGrants(settings.secret)
        self._report_key = hmac.new(settings.secret, b"townhall audience reports",
                                    hashlib.sha256).digest()
        self.origin = settings.origin_tag or secrets.token_hex(4)
        self.seats: dict[str, SeatCount] = {}
        self._task: asyncio.Task[None] | None = None
        if settings.admit_anywhere and settings.require_tickets:
            spaces.join_grant = self.grant_for

    # --- the home origin: the grant in the details ---
    def grant_for(self, space: LiveSpace, listeners: int, now: float) -> str | None:
        """The grant for the details of `space`, which has `listeners` in all now."""
        r = space.record
        if r.listener_cap is not None or r.phase is Phase.ENDED \
                or self.admissions.attack.active(now):
            return None
        s = self.settings
        ttl = renewal_lifetime(listeners, space.room.seat_ttl, s.seat_ttl_max_s,
                               s.renewals_per_s_per_space)
        return self.grants.issue(r.id, ttl, now, s.grant_valid_s)

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
            if verdict is Check.VALID and held is not None:
                try:
                    adm.check_holder(space_id, held, seat_secret)
                except SpaceError as exc:
                    return exc.status, {"error": exc.code, "detail": exc.message}, None
                seat = held
        renewed = seat is not None
        seat = seat or "g" + secrets.token_hex(8)
        expires = now + ttl
        self.seats.setdefault(space_id, SeatCount()).hold(seat, expires, now)
        adm.counters["renewed_anywhere" if renewed else "admitted_anywhere"] += 1
        return 200, adm.ticket_answer(space_id, seat, expires, now), None

    def leave(self, space_id: str, seat: str) -> None:
        counted = self.seats.get(space_id)
        if counted is not None:
            counted.leave(seat)

    # --- counts: to the home ---
    def _sign(self, space_id: str, origin: str, count: int, at: float) -> str:
        msg = f"{space_id}|{origin}|{count}|{at:.3f}".encode()
        return hmac.new(self._report_key, msg, hashlib.sha256).hexdigest()

    def receive(self, space_id: str, origin: str, count: int, at: float, sig: str,
                now: float) -> bool:
        """Another origin's count of this space's grant seats; False if not genuine."""
        good = hmac.compare_digest(self._sign(space_id, origin, count, at), sig)
        if not good or abs(now - at) > MAX_SKEW_S or origin == self.origin:
            return False
        self.spaces.report_audience(space_id, origin, count, at)
        return True

    def start(self) -> None:
        if self.settings.admit_anywhere:
            self._task = asyncio.get_running_loop().create_task(self._report_loop())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _report_loop(self) -> None:
        url = (self.settings.audience_url or self.settings.base_url).rstrip("/")
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                await asyncio.sleep(self.settings.audience_report_s)
                await self.report(client, url, time.time())

    async def report(self, client: httpx.AsyncClient, url: str, now: float) -> None:
        for space_id, counted in list(self.seats.items()):
            n = counted.count(now)
            if self.spaces.find(space_id) is not None:
                self.spaces.report_audience(space_id, self.origin, n, now)
            else:
                body = {"origin": self.origin, "count": n, "at": round(now, 3),
                        "sig": self._sign(space_id, self.origin, n, round(now, 3))}
                try:
                    await client.post(f"{url}/api/spaces/{space_id}/audience", json=body)
                except httpx.HTTPError as exc:  # the home or the edge is away: next round
                    log.info("audience report for %s failed: %s", space_id, exc)
            if n == 0:
                del self.seats[space_id]  # reported empty once; nothing more to say
