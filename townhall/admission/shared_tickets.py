"""Shared tickets: which seats play from more addresses than one listener has. Sans-IO.

A ticket proves that its holder was admitted to a space (one seat of its audience, counted
against any listener cap) until it expires; it is a bearer token, so anyone holding the URL
can play with it until then. Renewing it or giving the seat back needs the seat's secret,
which only the join answer carries (no URL). The edge logs, per seat, the addresses that
start playing with it (`seats.log`: `msec space seat address`); a seat seen from more
addresses than `max_addresses` within the window is shared, and the operator revokes it
(`POST /api/admin/spaces/ID/seats/SEAT/revoke`): it is never renewed, so it stops playing
within its lifetime, and its seat goes back to the audience.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class SharedSeat:
    space: str
    seat: str
    addresses: int


def shared_seats(lines: Iterable[str], max_addresses: int, since: float = 0.0
                 ) -> list[SharedSeat]:
    """Seats started from more than `max_addresses` distinct addresses, most shared first;
    lines older than `since` (epoch seconds) and malformed lines are skipped."""
    seen: dict[tuple[str, str], set[str]] = {}
    for line in lines:
        fields = line.split()
        if len(fields) != 4:
            continue
        try:
            at = float(fields[0])
        except ValueError:
            continue
        if at < since:
            continue
        seen.setdefault((fields[1], fields[2]), set()).add(fields[3])
    out = [SharedSeat(space, seat, len(addrs)) for (space, seat), addrs in seen.items()
           if len(addrs) > max_addresses]
    return sorted(out, key=lambda s: -s.addresses)
