"""Tickets for standard HLS players: they run no renewal code, so the media URL renews itself.

ffmpeg, VLC, mpv, GStreamer or Shaka given a playlist URL reload it for hours and never call
`/join`. Two rules make that work without weakening tickets:

- **The entry URL** `/live/ID/master.m3u8` (the details' `playlist_url`) joins like
  `POST /join` (per-address join budget, listener cap) and answers `302` to the ticketed
  playlist. It never queues: while the space is full, or a line is waiting, it answers `503`
  with `Retry-After` (the page's waiting room keeps the line fair); in attack mode it answers
  `403` (a proof of work needs the page).
- **An expired but genuine ticket** on any live media URL gets `302` to the same URL with a
  fresh ticket, if its seat is still held (the seat is renewed, as `/join` with `renew` does);
  once the seat is gone (given back, or lapsed) it gets `403 seat_gone`. The edge tells a
  forged ticket (refused there) from an expired one (`secure_link` "" vs "0") and sends only
  the expired ones to the origin, uncached; forged tickets never reach an origin.
- A seat outlives its ticket by `ticket_grace_s` (at most half the seat's lifetime), so a
  player coming back with a lapsed ticket finds its seat.
- Players keep reloading the URL they were given (ffmpeg does; it resolves segments against
  the redirected one), so the redirect is cacheable for half the fresh ticket's life, under
  a key with the expired ticket in it: the edge asks the origin about each such player about
  once per half ticket lifetime, and the seat stays renewed while the player plays. A leaked
  URL stops working at most half a ticket lifetime plus a ticket lifetime after its seat is
  given back.
Service: uses the admissions service and the waiting room; never touches the database.
"""

from __future__ import annotations

from typing import Any

from townhall.admission.tickets import Check, ticket_expiry
from townhall.live.errors import SpaceError
from townhall.live.joins.admissions import Admissions, JoinRequest
from townhall.live.registry.spaces import LiveSpace


def _count(adm: Admissions, name: str) -> None:
    adm.counters[name] = adm.counters.get(name, 0) + 1


async def renewed_path(adm: Admissions, space: LiveSpace, ticket: str, path: str,
                 now: float) -> tuple[str, float]:
    """The same media path with a fresh ticket, for an expired ticket whose seat is held,
    and how long that answer may be reused (half the fresh ticket's life); SpaceError 403
    otherwise."""
    verdict, seat = adm.signer.check(space.record.id, ticket, now)
    if verdict is not Check.EXPIRED or seat is None:
        raise SpaceError(403, "bad_ticket", "the ticket is not valid for this space")
    if seat in adm.revoked.get(space.record.id, ()):
        raise SpaceError(403, "ticket_revoked", "this ticket was shared and has been revoked")
    renewed = await space.room.renew(seat, now)
    if renewed is None:
        _count(adm, "player_seat_gone")
        raise SpaceError(403, "seat_gone", "the ticket lapsed and its seat is gone; open the "
                                           "space's playlist_url again to join")
    _count(adm, "player_renewed")
    fresh = adm.signer.issue(space.record.id, seat,
                             ticket_expiry(renewed.expires, now, adm.settings.ticket_grace_s))
    reuse_s = max(1.0, (fresh.expires - now) / 2)
    return path.replace(f"/t/{ticket}/", f"/t/{fresh}/", 1), reuse_s


async def entry_path(adm: Admissions, space: LiveSpace, address: str,
                     now: float) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(302, {}, Location) to the ticketed playlist, or a refusal (status, body, headers)."""
    refused = await adm.over_join_budget(address)
    if refused is not None:
        return refused[0], refused[1], refused[2] or {}
    room = space.room
    if room.cap is not None:
        await room.refresh(now)  # a shared room's numbers as they are now, not as last seen
    if room.cap is not None and (room.queued or room.occupied >= room.cap):
        return 503, {"error": "space_full",
                     "detail": "the space is full; its page keeps your place in line"}, {
                         "Retry-After": "5"}
    status, answer = await adm.join(space, JoinRequest(), now)
    _count(adm, "player_entries")
    if status == 428:
        return 403, {"error": "proof_of_work_required",
                     "detail": "the service is under attack: join from the space's page"}, {}
    if status != 200:
        return 503, {"error": "space_full", "detail": "try again shortly"}, {"Retry-After": "5"}
    return 302, {}, {"Location": f"/live/{space.record.id}/t/{answer['ticket']}/master.m3u8"}
