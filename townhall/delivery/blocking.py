"""Blocking playlist reload and preload-hint rules (rfc8216bis §6.2.5.2, §6.2.6).

Sans-IO: given the window's position and a request, say whether to answer now, hold the
request, or refuse it. The HTTP edge owns the waiting and the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


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


def parse_directives(msn: str | None, part: str | None) -> tuple[int | None, int | None]:
    """Parse _HLS_msn/_HLS_part query values; a bad value is a 400, not a hang."""
    if msn is None:
        if part is not None:
            # §6.2.5.2: _HLS_part without _HLS_msn is an error
            raise BadBlockingRequest("_HLS_part requires _HLS_msn")
        return None, None
    try:
        m = int(msn)
        p = None if part is None else int(part)
    except ValueError as exc:
        raise BadBlockingRequest("_HLS_msn and _HLS_part must be integers") from exc
    if m < 0 or (p is not None and p < 0):
        raise BadBlockingRequest("_HLS_msn and _HLS_part must not be negative")
    return m, p


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
