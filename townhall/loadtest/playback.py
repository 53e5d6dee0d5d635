"""A listener's playback clock: deadlines, stalls and distance to the live edge. Sans-IO.

Playback starts at wall time T0, when the start-up media is in hand, at media offset
S: the live edge minus PART-HOLD-BACK (LL-HLS) or minus three target durations (plain HLS;
rfc8216bis §6.3.3). Media at offset o is due at

    deadline(o) = T0 + (o - S) + stalled_s - skipped_s

A piece of media not in hand by its deadline is a stall: the player waits for it (a rebuffer)
and every later deadline moves by the stall's length, as it does in a real player; latency
never comes back by itself. Media that is never delivered (a gap in what arrived) is skipped
when later media arrives: the player jumps over it (`skipped_s`, counted as a gap).

Fed (offset, duration, arrival time) in media order; time is always an argument. Never fetches.
"""

from __future__ import annotations

from dataclasses import dataclass

TOLERANCE_S = 0.001  # lateness below this is clock noise, not a stall
CONTIGUOUS_S = 0.005  # media this close to the buffered end continues it


@dataclass(frozen=True)
class Stall:
    at: float  # wall time the buffer ran dry (the missed deadline)
    seconds: float  # how long the player waited


class Playback:
    def __init__(self, started_at: float, start_offset: float) -> None:
        self.t0 = started_at
        self.start_offset = start_offset
        self.buffered_until = start_offset  # media offset up to which media is in hand
        self.play_at = started_at  # wall time the buffered media runs out (next deadline)
        self.stalled_s = 0.0
        self.skipped_s = 0.0
        self.stalls: list[Stall] = []
        self.gaps = 0
        # the least media in hand when later media arrived (negative: a stall); how close
        # this listener ran to stalling. None until media arrives after playback started.
        self.min_headroom_s: float | None = None
        self._pdt_base: float | None = None  # PDT - offset of the media being played
        self._bases: list[tuple[float, float]] = []  # (from offset, pdt base), for jumps

    def deadline(self, offset: float) -> float:
        """When media at `offset` must be in hand (for contiguous media after the start)."""
        return self.t0 + (offset - self.start_offset) + self.stalled_s - self.skipped_s

    def arrive(self, offset: float, duration: float, now: float,
               pdt: float | None = None) -> Stall | None:
        """Media [offset, offset+duration) arrived at `now`. Returns the stall it ended, if any.

        Media already played or in hand is ignored; media ahead of the buffered end means
        the media in between never came and is skipped when this arrives."""
        end = offset + duration
        if end <= self.buffered_until + CONTIGUOUS_S:
            return None
        if pdt is not None:
            self._note_pdt(offset, pdt)
        if offset <= self.buffered_until + CONTIGUOUS_S:  # continues (or overlaps) the held
            offset = self.buffered_until
        elif offset > self.buffered_until + CONTIGUOUS_S:
            # never delivered: the player jumps the gap, so `offset` is due when the held
            # media runs out (play_at), which is what deadline(offset) gives after this
            self.gaps += 1
            self.skipped_s += offset - self.buffered_until
        stall: Stall | None = None
        late = now - self.play_at
        if now > self.t0:  # not part of the start-up buffer
            headroom = -late
            if self.min_headroom_s is None or headroom < self.min_headroom_s:
                self.min_headroom_s = headroom
        if late > TOLERANCE_S:
            stall = Stall(self.play_at, late)
            self.stalls.append(stall)
            self.stalled_s += late
            self.play_at = now
        self.play_at += end - offset
        self.buffered_until = end
        return stall

    def _note_pdt(self, offset: float, pdt: float) -> None:
        base = pdt - offset
        if not self._bases or abs(self._bases[-1][1] - base) > CONTIGUOUS_S:
            self._bases.append((offset, base))
            del self._bases[:-8]

    def buffered_s(self, now: float) -> float:
        """Seconds of media in hand ahead of the playhead."""
        return max(0.0, self.play_at - now)

    def stalled_at(self, now: float) -> bool:
        """The buffer is dry at `now` (a stall in progress)."""
        return now > self.play_at + TOLERANCE_S

    def position(self, now: float) -> float:
        """Media offset of the playhead at `now`."""
        return self.buffered_until - self.buffered_s(now)

    def pdt_at(self, offset: float) -> float | None:
        """The program date-time (wall time stamped by the origin) of media at `offset`
        (None without PDT)."""
        base = None
        for start, b in self._bases:
            if start <= offset + CONTIGUOUS_S:
                base = b
        if base is None and self._bases:
            base = self._bases[0][1]
        return None if base is None else base + offset

    def live_edge_distance(self, now: float) -> float | None:
        """Wall time minus the PDT of the media being played (None without PDT)."""
        pdt = self.pdt_at(self.position(now))
        return None if pdt is None else now - pdt

    def finish(self, now: float) -> Stall | None:
        """The run stopped at `now`: a stall still in progress is counted up to now."""
        if not self.stalled_at(now):
            return None
        stall = Stall(self.play_at, now - self.play_at)
        self.stalls.append(stall)
        self.stalled_s += stall.seconds
        self.play_at = now
        return stall

    @property
    def stall_count(self) -> int:
        return len(self.stalls)
