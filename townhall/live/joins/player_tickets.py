"""Tickets for standard HLS players: they run no renewal code, so the media URL renews itself.

ffmpeg, VLC, mpv, GStreamer or Shaka given a playlist URL reload it for hours and never call
`/join`. These rules make that work without weakening tickets:

- **The entry URL** `/live/ID/master.m3u8` (the details' `playlist_url`) joins like
  `POST /join` and answers `302` to the ticketed playlist. Its budget is the address's
  player starts (`player_starts_burst_per_address`: a household or an office starts
  together; 429 + Retry-After past it). It never queues: a capped space full of paid seats,
  or with a line waiting, answers `503` + Retry-After (the page keeps the line fair). In a
  capped space the seat is provisional and shared per network (`admission.waiting_room`).
  In attack mode standard players, who cannot solve a proof of work, are admitted at
  `attack_players_per_s_per_space` per space, the rest `503 attack_mode_busy` + Retry-After.
- **Through an edge, an expired but genuine ticket plays on at the same URLs**: the edge
  asks `grace_check` (nginx `auth_request` on `.../t/TICKET/renewal`) once per ticket
  lifetime, caching the answer under the ticket; while the seat is held it is renewed (a
  provisional seat becomes a full one) and the edge fetches with a ticket of its own, so no
  player ever sees a redirect after its entry (Shaka resolved every part against the first
  redirect it saw: 303 redirects in 693 requests in 60 s). Once the seat is gone (given back,
  evicted while provisional, revoked or lapsed) the check answers `403 seat_gone`: a lapsed
  ticket outlives its seat by at most one ticket lifetime (`admission.tickets.grace_answer`).
  The edge tells a forged ticket (refused there) from an expired one (`secure_link` "" vs
  "0"); forged tickets never reach an origin.
- **Without an edge, too**, an expired but genuine ticket plays on at the same URLs: the
  origin answers it as the edge would (`LapsedTickets`): the seat is renewed once per ticket
  lifetime (the answer is kept per ticket for as long as the edge keeps its check, single
  flight), and the media is served under the lapsed ticket; `403 seat_gone` once the seat is
  gone. Straight at an origin, 40 s on 5 s tickets, where a `302` to a fresh ticket at every
  lapse cost ffmpeg 16 redirects and 15 renewals and Shaka 204 of each: 0 redirects, 6 and 8
  renewals (docs/players.md).
- A seat outlives its ticket by `ticket_grace_s` (at most half the seat's lifetime), so a
  player coming back with a lapsed ticket finds its seat. Grant seats (a page's or the load
  generator's join with a join grant, on any origin) are renewed the same way by
  `GrantAdmission.renew_lapsed`: a page whose renewal came late plays on at its URLs too.
Service: uses the admissions service and the waiting room; never touches the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from townhall.admission.seat_count import is_grant_seat
from townhall.admission.tickets import Check, GraceAnswer, grace_answer, renewal_margin
from townhall.admission.waiting_room import Admitted
from townhall.live.errors import SpaceError
from townhall.live.joins.admissions import Admissions, JoinRequest
from townhall.live.joins.grant_admission import GrantAdmission
from townhall.live.registry.spaces import LiveSpace
from townhall.space.lifecycle import Phase

log = logging.getLogger("townhall.tickets")


def _count(adm: Admissions, name: str) -> None:
    adm.counters[name] = adm.counters.get(name, 0) + 1


async def _renew_seat(adm: Admissions, grants: GrantAdmission, space: LiveSpace, ticket: str,
                      now: float, accepted: tuple[Check, ...]) -> tuple[str, Admitted]:
    """The seat of a genuine `ticket` (its check one of `accepted`), renewed; SpaceError 403
    for a bad or revoked ticket, or a seat already gone (counted)."""
    verdict, seat = adm.signer.check(space.record.id, ticket, now)
    if verdict not in accepted or seat is None:
        raise SpaceError(403, "bad_ticket", "the ticket is not valid for this space")
    if seat in adm.revoked.get(space.record.id, ()):
        raise SpaceError(403, "ticket_revoked", "this ticket was shared and has been revoked")
    if is_grant_seat(seat):
        renewed = grants.renew_lapsed(space, seat, int(ticket.split(".")[1]), now)
    else:
        renewed = await space.room.renew(seat, now)
    if renewed is None:
        _count(adm, "player_seat_gone")
        raise SpaceError(403, "seat_gone", "the ticket lapsed and its seat is gone; open the "
                                           "space's playlist_url again to join")
    _count(adm, "player_renewed")
    return seat, renewed


async def _renewal(adm: Admissions, grants: GrantAdmission, space: LiveSpace, ticket: str,
                   now: float, accepted: tuple[Check, ...]) -> tuple[str, GraceAnswer]:
    """The seat renewed for a lapsed `ticket`, and how long that renewal answers for it
    (`grace_answer`: one ticket lifetime); SpaceError 403 once the seat is gone."""
    seat, renewed = await _renew_seat(adm, grants, space, ticket, now, accepted)
    answer = grace_answer(renewed.expires, now, adm.settings.admission.ticket_grace_s)
    # the host's listening time: asked again `reuse_s` later while the player plays
    adm.listening.seen(space.record.id, seat, now, now + answer.reuse_s)
    return seat, answer


@dataclass(frozen=True)
class _Kept:
    until: float  # epoch seconds: the answer holds for the ticket until then
    refusal: SpaceError | None  # None: served; else what the ticket is answered (403)


class LapsedTickets:
    """Lapsed but genuine tickets played straight at this origin (no edge in front): a
    renewal is asked once per ticket lifetime and kept per ticket, as the edge keeps its
    renewal check (`X-Accel-Expires`), so the player keeps its URLs and never sees a
    redirect. A seat gone is kept as long (it does not come back). Concurrent requests under
    one ticket share one renewal. At most `max_tickets` answers are kept: past it the oldest
    is dropped (counted `player_lapsed_dropped`, logged once per 1,000), which costs that
    player one more renewal, never an error. Each origin keeps its own: players spread over
    several origins without an edge renew once per lifetime per origin they reach."""

    def __init__(self, adm: Admissions, grants: GrantAdmission, max_tickets: int) -> None:
        self.adm = adm
        self.grants = grants
        self.max_tickets = max_tickets
        self._kept: OrderedDict[tuple[str, str], _Kept] = OrderedDict()
        self._asking: dict[tuple[str, str], asyncio.Future[_Kept]] = {}

    async def admit(self, space: LiveSpace, ticket: str, now: float) -> None:
        """Return if `ticket` (already checked genuine and lapsed) may be served now; raise
        its refusal (SpaceError 403) if not."""
        key = (space.record.id, ticket)
        kept = self._kept.get(key)
        while kept is None or kept.until <= now:
            asking = self._asking.get(key)
            if asking is None:
                kept = await self._lead(key, space, ticket, now)
                break
            try:
                kept = await asyncio.shield(asking)
            except asyncio.CancelledError:
                if not asking.cancelled():
                    raise  # this request was cancelled, not the renewal it waited for
                kept = None  # that renewal failed: ask again
        if kept.refusal is not None:
            refusal = kept.refusal
            raise SpaceError(refusal.status, refusal.code, refusal.message)
        seat = ticket.split(".", 1)[0]
        if seat in self.adm.revoked.get(space.record.id, ()):
            raise SpaceError(403, "ticket_revoked", "this ticket was shared and has been revoked")

    async def _lead(self, key: tuple[str, str], space: LiveSpace, ticket: str,
                    now: float) -> _Kept:
        """Ask for the renewal; requests under the same ticket meanwhile wait for it."""
        asking: asyncio.Future[_Kept] = asyncio.get_running_loop().create_future()
        self._asking[key] = asking
        try:
            kept = await self._ask(space, ticket, now)
        except BaseException:
            asking.cancel()
            raise
        finally:
            del self._asking[key]
        asking.set_result(kept)
        return kept

    async def _ask(self, space: LiveSpace, ticket: str, now: float) -> _Kept:
        adm = self.adm
        try:
            _, answer = await _renewal(adm, self.grants, space, ticket, now, (Check.EXPIRED,))
            _count(adm, "player_renewed_at_origin")  # of player_renewed: no edge asked
            kept = _Kept(now + answer.reuse_s, None)
        except SpaceError as exc:
            if exc.status != 403:
                raise
            hold = renewal_margin(adm.settings.admission.seat_ttl_s,
                                  adm.settings.admission.ticket_grace_s)
            kept = _Kept(now + max(1.0, hold), exc)
        key = (space.record.id, ticket)
        while self._kept:  # answers lapsed at the front (they were kept in about that order)
            first = next(iter(self._kept))
            if self._kept[first].until > now:
                break
            del self._kept[first]
        self._kept[key] = kept
        self._kept.move_to_end(key)
        while len(self._kept) > self.max_tickets:
            _, oldest = self._kept.popitem(last=False)
            if oldest.until <= now:
                continue  # done with anyway
            _count(adm, "player_lapsed_dropped")
            if adm.counters["player_lapsed_dropped"] % 1000 == 1:
                log.warning("lapsed tickets past lapsed_tickets_max (%d): the oldest answers "
                            "dropped (%d so far), those players renew again", self.max_tickets,
                            adm.counters["player_lapsed_dropped"])
        return kept


async def grace_check(adm: Admissions, grants: GrantAdmission, space: LiveSpace, ticket: str,
                      now: float) -> tuple[str, GraceAnswer]:
    """The edge's renewal check for an expired but genuine ticket (`GET .../t/T/renewal`,
    asked by nginx `auth_request` and cached per ticket for `reuse_s`): the seat is renewed
    and the edge gets a ticket of its own to fetch with, so the player keeps its URLs (Shaka
    resolves every segment against the first redirect it ever saw: 295 of its 677 requests
    in 60 s were redirects). SpaceError 403 once the seat is gone."""
    # VALID too: the edge asks in a ticket's last second (nginx still calls it valid, this
    # clock may not), and renews then as it would a moment later
    seat, answer = await _renewal(adm, grants, space, ticket, now,
                                  (Check.EXPIRED, Check.VALID))
    return str(adm.signer.issue(space.record.id, seat, answer.upstream_expires)), answer


async def until_startable(space: LiveSpace, wait_s: float) -> float:
    """Hold a player that opens a space in its first seconds until the playlist has what any
    player starts from (two complete segments: `Program.ready`), at most `wait_s`. ffmpeg
    opening within a second of going live found no complete segment and gave up ("no
    stream"); a held answer is one it waits for, where a 503 + Retry-After is one it does
    not follow. A paused program (past the idle pause) is not held: it has segments.
    Returns the seconds it held."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + wait_s
    while space.record.phase is Phase.LIVE and loop.time() < deadline:
        program = space.program
        if program is not None and (program.ready or not program.on_air):
            break
        if program is None:
            await asyncio.sleep(min(0.1, max(0.0, deadline - loop.time())))
        else:
            await program.wait_change(deadline - loop.time())
    return loop.time() - start


async def entry_path(adm: Admissions, space: LiveSpace, address: str,
                     now: float) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(302, {}, Location) to the ticketed playlist, or a refusal (status, body, headers)."""
    refused = await adm.over_join_budget(address, starts=True)
    if refused is not None:
        return refused[0], refused[1], refused[2] or {}
    now += await until_startable(space, adm.settings.admission.player_start_wait_s)
    room = space.room
    if room.cap is not None:
        await room.refresh(now)  # a shared room's numbers as they are now, not as last seen
    if room.cap is not None and room.queued:
        return 503, {"error": "space_full",
                     "detail": "the space is full; its page keeps your place in line"}, {
                         "Retry-After": "5"}
    player = False
    if adm.attack.active(now):
        # a standard player cannot solve a proof of work: admitted at a bounded rate per
        # space (attack_players_per_s_per_space) instead of never
        ok, wait = adm.player_limits.allow(space.record.id, now)
        if not ok:
            _count(adm, "player_attack_refused")
            retry = str(max(1, int(wait + 0.999)))
            return 503, {"error": "attack_mode_busy",
                         "detail": f"the service is under attack: retry in {retry} s, or "
                                   "join from the space's page"}, {"Retry-After": retry}
        player = True
    status, answer = await adm.join(space, JoinRequest(address=address), now, wait=False,
                                    player=player)
    _count(adm, "player_entries")
    if status in (429, 503):
        return status, {"error": answer["error"], "detail": answer["detail"]}, {
            "Retry-After": str(answer.get("retry_after_s", 5))}
    if status != 200:
        return 503, {"error": "space_full", "detail": "try again shortly"}, {"Retry-After": "5"}
    if player:
        _count(adm, "player_attack_admitted")
    return 302, {}, {"Location": f"/live/{space.record.id}/t/{answer['ticket']}/master.m3u8"}
