"""Blocking playlist reload and preload-hint rules (rfc8216bis §6.2.5.2, §6.2.6).

Sans-IO: given the window's position and a request, say whether to answer now, hold the
request, or refuse it. The HTTP edge owns the waiting and the clock.

Canonical before keyed: the directives enter the edge's cache key, so each has one spelling,
the same here and at the edge (`delivery/edge_config.py` builds its nginx maps from the
constants below): the exact name, once, a decimal without sign, space or leading zero, at most
MSN_DIGITS / PART_DIGITS digits. `007`, `+7`, `7.0`, `_hls_msn`, `%5FHLS_msn` and a repeated
`_HLS_msn` would each be a cache key and a held edge-to-origin connection for one request;
they are refused (400), never read as 7.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from urllib.parse import unquote

from townhall.delivery.canonical import canonical_number

MSN_DIGITS = 12  # ~10^12 segments: 70,000 years of 2 s segments
PART_DIGITS = 6
SKIP_VALUES = ("YES", "v2")


MSN_RE = re.compile(canonical_number(MSN_DIGITS))
PART_RE = re.compile(canonical_number(PART_DIGITS))
DIRECTIVES = {"_HLS_msn": MSN_RE, "_HLS_part": PART_RE,
              "_HLS_skip": re.compile("|".join(SKIP_VALUES))}


class Verdict(Enum):
    READY = "ready"
    WAIT = "wait"
    TOO_FAR = "too_far"  # 400
    GONE = "gone"  # 404: evicted or never going to exist


@dataclass(frozen=True)
class Position:
    last_complete_msn: int  # -1 when no segment is complete yet
    next_part: tuple[int, int]  # (msn, index) that will be published next
    parts_per_segment: int
    ended: bool


class BadBlockingRequest(ValueError):
    pass


def directive_query(raw: str) -> dict[str, str]:
    """The HLS directives of a raw query string (as sent, before percent-decoding), each
    checked for its one spelling; other names are left to others (they never enter a key).
    A name that reads as a directive in any case or encoding must be the directive exactly:
    nginx reads `$arg__HLS_msn` case-insensitively and takes the first of a repeat, Starlette
    reads names decoded and takes the last, so anything else is refused, not guessed."""
    found: dict[str, str] = {}
    for pair in raw.split("&"):
        name, eq, value = pair.partition("=")
        if not unquote(name).lower().startswith("_hls_"):
            continue
        if name not in DIRECTIVES:
            raise BadBlockingRequest(f"unknown or misspelled HLS directive {name[:40]!r}; "
                                     f"the directives are {', '.join(DIRECTIVES)}")
        if name in found:
            raise BadBlockingRequest(f"{name} is given more than once")
        if not eq or not DIRECTIVES[name].fullmatch(value):
            raise BadBlockingRequest(
                f"{name}={value[:40]!r} is not canonical: "
                + ("YES or v2" if name == "_HLS_skip" else
                   "a decimal integer without sign, spaces or leading zeros, at most "
                   f"{MSN_DIGITS if name == '_HLS_msn' else PART_DIGITS} digits"))
        found[name] = value
    return found


def parse_directives(msn: str | None, part: str | None) -> tuple[int | None, int | None]:
    """Parse _HLS_msn/_HLS_part query values; a bad value is a 400, not a hang, and only the
    canonical spelling is a good value (`007` is not 7: see the module's docstring)."""
    if msn is None:
        if part is not None:
            # §6.2.5.2: _HLS_part without _HLS_msn is an error
            raise BadBlockingRequest("_HLS_part requires _HLS_msn")
        return None, None
    if not MSN_RE.fullmatch(msn) or (part is not None and not PART_RE.fullmatch(part)):
        raise BadBlockingRequest(
            "_HLS_msn and _HLS_part must be decimal integers without sign, spaces or leading "
            f"zeros (at most {MSN_DIGITS} and {PART_DIGITS} digits)")
    return int(msn), None if part is None else int(part)


def parse_skip(value: str | None) -> bool:
    """_HLS_skip (§6.2.5.1): YES asks for a delta update; v2 also skips date ranges, of which
    we list none, so it is the same request. Anything else is a 400."""
    if value is None:
        return False
    if value in ("YES", "v2"):
        return True
    raise BadBlockingRequest("_HLS_skip must be YES or v2")


def playlist_verdict(pos: Position, msn: int, part: int | None) -> Verdict:
    if pos.ended:
        return Verdict.READY
    if part is not None and part >= pos.parts_per_segment:
        msn, part = msn + 1, 0  # asking past a segment's last part means the next segment
    # §6.2.5.2: 400 when _HLS_msn is more than two segments past the last one in the playlist
    if msn > pos.last_complete_msn + 2:
        return Verdict.TOO_FAR
    if part is None:
        return Verdict.READY if pos.last_complete_msn >= msn else Verdict.WAIT
    return Verdict.READY if (msn, part) < pos.next_part else Verdict.WAIT


def part_verdict(pos: Position, msn: int, index: int, available: bool) -> Verdict:
    """A part request: serve it, hold it until published (preload hint), or 404."""
    if available:
        return Verdict.READY
    if pos.ended:
        return Verdict.GONE
    nmsn, nidx = pos.next_part
    # hold requests for the hinted part and the one after it (a player may run ahead by one)
    upcoming = {(nmsn, nidx), (nmsn, nidx + 1), (nmsn + 1, 0)}
    if (msn, index) in upcoming and index < pos.parts_per_segment:
        return Verdict.WAIT
    return Verdict.GONE
