"""The edge's seat log, bounded: what a rotation keeps, merges and drops. Sans-IO.

The edge appends `msec space seat address` for each start on a seat (`seats.log`, at most a
seat's budget of lines: `delivery.edge_config`); `townhall tickets shared` reads the last
`window` seconds of it to find seats played from too many addresses (`shared_tickets`). A
large audience still grows the log without end (one line per listener start), so a rotation
bounds it by size: past `max_bytes` the log is moved aside and compacted into the history
file (`seats.log.1`), which the reader reads with the live log.

What the compaction may do without losing a record the shared-seat check needs:
- a line older than the window is needed by no check (`expired`: not a loss);
- of the lines of one (space, seat, address), only the latest matters: `shared_seats` counts
  distinct addresses since a moment, and the latest line is at or after that moment whenever
  any line is (`merged`: not a loss). One ticket's 274 MB an hour is one line per address.
So the history answers `shared_seats` exactly as the uncompacted lines would, for every
moment inside the window. Only when the distinct records inside the window are themselves
more than `max_bytes` are the oldest of them dropped (`dropped`: counted, and the caller logs
it and exports it as a metric); they are the first to leave the window anyway.
Malformed lines are dropped too (`malformed`): no check could read them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ROTATED_SUFFIX = ".1"  # the compacted history, read with the live log


@dataclass(frozen=True)
class Compacted:
    lines: list[str]  # oldest first, each without its line break
    kept: int
    merged: int  # lines of a (space, seat, address) already kept with a later time
    expired: int  # lines older than the window: needed by no check
    dropped: int  # records inside the window dropped to keep the bound
    malformed: int

    @property
    def size(self) -> int:
        return sum(len(line) + 1 for line in self.lines)


def compact(lines: Iterable[str], since: float, max_bytes: int) -> Compacted:
    """The history to keep from `lines` (any order, old history first is fine): the latest
    line of each (space, seat, address) at or after `since` (epoch seconds), oldest dropped
    first while they take more than `max_bytes`."""
    latest: dict[tuple[str, str, str], tuple[float, str]] = {}
    merged = expired = malformed = 0
    for raw in lines:
        fields = raw.split()
        if len(fields) != 4:
            malformed += bool(raw.strip())
            continue
        try:
            at = float(fields[0])
        except ValueError:
            malformed += 1
            continue
        if at < since:
            expired += 1
            continue
        key = (fields[1], fields[2], fields[3])
        old = latest.get(key)
        if old is not None:
            merged += 1
            if old[0] >= at:
                continue
        latest[key] = (at, " ".join(fields))
    ordered = sorted(latest.values())
    size = sum(len(line) + 1 for _, line in ordered)
    dropped = 0
    while dropped < len(ordered) and size > max_bytes:  # the oldest leave the window first
        size -= len(ordered[dropped][1]) + 1
        dropped += 1
    kept = [line for _, line in ordered[dropped:]]
    return Compacted(kept, len(kept), merged, expired, dropped, malformed)
