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
- **Without an edge**, an expired but genuine ticket on any live media URL gets `302` to the
  same URL with a fresh ticket while its seat is held (`renewed_path`), `403 seat_gone`
  once it is gone. The fresh ticket is stable: every renewal of one lapsed ticket within a
  ticket's life gets the same one (`admission.tickets.stable_expiry`), so ffmpeg's and
  hlsdemux's segment URIs change once per ticket lifetime.
- A seat outlives its ticket by `ticket_grace_s` (at most half the seat's lifetime), so a
  player coming back with a lapsed ticket finds its seat.
Service: uses the admissions service and the waiting room; never touches the database.
"""

from __future__ import annotations

import asyncio
from typing import Any

from townhall.admission.tickets import (
    Check,
    GraceAnswer,
    grace_answer,
    renewal_margin,
    stable_expiry,
    ticket_expiry,
)
from townhall.admission.waiting_room import Admitted
from townhall.live.errors import SpaceError
from townhall.live.joins.admissions import Admissions, JoinRequest
from townhall.live.registry.spaces import LiveSpace
from townhall.space.lifecycle import Phase


def _count(adm: Admissions, name: str) -> None:
    adm.counters[name] = adm.counters.get(name, 0) + 1


async def _renew_seat(adm: Admissions, space: LiveSpace, ticket: str, now: float,
                      accepted: tuple[Check, ...]) -> tuple[str, Admitted]:
    """The seat of a genuine `ticket` (its check one of `accepted`), renewed; SpaceError 403
    for a bad or revoked ticket, or a seat already gone (counted)."""
    verdict, seat = adm.signer.check(space.record.id, ticket, now)
    if verdict not in accepted or seat is None:
        raise SpaceError(403, "bad_ticket", "the ticket is not valid for this space")
    if seat in adm.revoked.get(space.record.id, ()):
        raise SpaceError(403, "ticket_revoked", "this ticket was shared and has been revoked")
    renewed = await space.room.renew(seat, now)
    if renewed is None:
        _count(adm, "player_seat_gone")
        raise SpaceError(403, "seat_gone", "the ticket lapsed and its seat is gone; open the "
                                           "space's playlist_url again to join")
    _count(adm, "player_renewed")
    return seat, renewed


async def renewed_path(adm: Admissions, space: LiveSpace, ticket: str, path: str,
                       now: float) -> tuple[str, float]:
    """The same media path with a fresh ticket, for an expired ticket whose seat is held,
    and how long that answer may be reused (until the fresh ticket would change); SpaceError
    403 otherwise. Every renewal of one lapsed ticket within a ticket's life answers the same
    fresh ticket (`stable_expiry`)."""
    seat, renewed = await _renew_seat(adm, space, ticket, now, (Check.EXPIRED,))
    grace = adm.settings.admission.ticket_grace_s
    allowed = ticket_expiry(renewed.expires, now, grace)
    old_expires = int(ticket.split(".")[1])
    expires = stable_expiry(old_expires, space.room.seat_ttl, allowed, now, grace)
    fresh = adm.signer.issue(space.record.id, seat, expires)
    adm.listening.seen(space.record.id, seat, now, expires)  # the host's listening time
    # reused until the answer would change (a margin before the fresh ticket lapses)
    margin = renewal_margin(space.room.seat_ttl, grace)
    reuse_s = max(1.0, expires - margin - now)
    return path.replace(f"/t/{ticket}/", f"/t/{fresh}/", 1), reuse_s


async def grace_check(adm: Admissions, space: LiveSpace, ticket: str,
                      now: float) -> tuple[str, GraceAnswer]:
    """The edge's renewal check for an expired but genuine ticket (`GET .../t/T/renewal`,
    asked by nginx `auth_request` and cached per ticket for `reuse_s`): the seat is renewed
    and the edge gets a ticket of its own to fetch with, so the player keeps its URLs (Shaka
    resolves every segment against the first redirect it ever saw: 295 of its 677 requests
    in 60 s were redirects). SpaceError 403 once the seat is gone."""
    # VALID too: the edge asks in a ticket's last second (nginx still calls it valid, this
    # clock may not), and renews then as it would a moment later
    seat, renewed = await _renew_seat(adm, space, ticket, now, (Check.EXPIRED, Check.VALID))
    answer = grace_answer(renewed.expires, now, adm.settings.admission.ticket_grace_s)
    # the host's listening time: the edge asks again `reuse_s` later while the player plays
    adm.listening.seen(space.record.id, seat, now, now + answer.reuse_s)
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
