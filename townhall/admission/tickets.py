"""Listener tickets: short-lived grants to fetch one space's media, checkable by nginx.

A ticket is carried in the media path, `/live/<space>/t/<seat>.<expires>.<hash>/...`, so the
relative URIs of every playlist inherit it and an edge can cache bodies under a key without
it. `hash` = base64url(MD5("<expires><space><seat> <secret>")) without padding: exactly what
nginx's `secure_link $tok,$exp; secure_link_md5 "$exp$space$seat <secret>"` computes, so a
flood of forged or ticketless media requests dies at the edge. MD5 here is nginx's only
choice; the secret stays out of reach of a length extension because it ends the message, and
tickets live minutes. Checking is constant time and touches no storage.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import Enum

SEAT_RE = re.compile(r"^[A-Za-z0-9]{1,32}$")
TICKET_RE = re.compile(
    r"^(?P<seat>[A-Za-z0-9]{1,32})\.(?P<exp>\d{1,12})\.(?P<tok>[A-Za-z0-9_-]{22})$")


class Check(Enum):
    VALID = "valid"
    EXPIRED = "expired"
    FORGED = "forged"
    MALFORMED = "malformed"


@dataclass(frozen=True)
class Ticket:
    space_id: str
    seat: str
    expires: int
    token: str

    def __str__(self) -> str:
        return f"{self.seat}.{self.expires}.{self.token}"


class TicketSigner:
    def __init__(self, secret: str) -> None:
        if len(secret) < 16 or not re.fullmatch(r"[A-Za-z0-9]+", secret):
            raise ValueError("ticket secret must be 16+ alphanumeric characters (nginx config)")
        self.secret = secret

    def _hash(self, space_id: str, seat: str, expires: int) -> str:
        digest = hashlib.md5(f"{expires}{space_id}{seat} {self.secret}".encode(),
                             usedforsecurity=False).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def seat_secret(self, space_id: str, seat: str) -> str:
        """What proves the seat's holder on renew and leave. The page keeps it; no URL
        carries it, so a shared ticket URL plays but can neither be renewed nor given back.
        Derived (HMAC-SHA256), so every origin with the ticket secret checks it unaided."""
        digest = hmac.new(self.secret.encode(), f"townhall-seat|{space_id}|{seat}".encode(),
                          hashlib.sha256).digest()[:18]
        return base64.urlsafe_b64encode(digest).decode()

    def holds(self, space_id: str, seat: str, secret: str | None) -> bool:
        return bool(secret) and hmac.compare_digest(self.seat_secret(space_id, seat),
                                                    secret or "")

    def issue(self, space_id: str, seat: str, expires: int) -> Ticket:
        if not SEAT_RE.match(seat):
            raise ValueError("seat ids are 1-32 letters and digits")
        return Ticket(space_id, seat, expires, self._hash(space_id, seat, expires))

    def check(self, space_id: str, ticket: str, now: float) -> tuple[Check, str | None]:
        """(verdict, seat). Constant time in the token; no lookups."""
        m = TICKET_RE.match(ticket)
        if m is None:
            return Check.MALFORMED, None
        seat, expires = m["seat"], int(m["exp"])
        want = self._hash(space_id, seat, expires)
        if not hmac.compare_digest(want, m["tok"]):
            return Check.FORGED, None
        if expires < now:
            return Check.EXPIRED, seat
        return Check.VALID, seat


def ticket_expiry(seat_expires: float, now: float, grace_s: float) -> int:
    """When the ticket of a seat lapsing at `seat_expires` expires: `grace_s` earlier (at most
    half the lifetime), so a standard player that never renews comes back with a lapsed
    ticket while its seat is still held, and plays on at it (the seat renewed)."""
    return int(seat_expires - min(grace_s, max(0.0, seat_expires - now) / 2))


def renewal_margin(seat_ttl: float, grace_s: float) -> float:
    """How long before a renewed ticket lapses its successor is handed out instead (a quarter
    of a ticket's life, at most 10 s): a player fetches what a playlist lists within it."""
    return min((seat_ttl - min(grace_s, seat_ttl / 2)) / 4, 10.0)


@dataclass(frozen=True)
class GraceAnswer:
    """The edge's renewal check for an expired but genuine ticket whose seat is held: the edge
    keeps serving that ticket's URLs for `reuse_s` (one ticket lifetime), fetching from an
    origin with `upstream` (a ticket only the edge sees, valid `grace_s` past that), and asks
    again afterwards. A player's URLs never change, and it costs one renewal per lifetime."""
    upstream_expires: int
    reuse_s: float


def grace_answer(seat_expires: float, now: float, grace_s: float) -> GraceAnswer:
    """For a seat just renewed to lapse at `seat_expires`: the edge reuses the answer for as
    long as a ticket of that seat lives (`ticket_expiry`, unrounded), so the next check comes
    while the seat is still held (a grace before it lapses), and a seat given back or evicted
    meanwhile stops its lapsed ticket at most one ticket lifetime later (the bound
    docs/players.md states). The upstream ticket lasts until the seat lapses, so it outlives
    the reuse by the grace."""
    left = seat_expires - now
    return GraceAnswer(int(seat_expires), max(1.0, left - min(grace_s, left / 2)))
