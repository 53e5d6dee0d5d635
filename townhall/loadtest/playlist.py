"""What a player reads from an HLS media playlist, and where each part sits on the media timeline.

Sans-IO. `parse_media` reads the tags a listener needs (rfc8216bis §4.4: target duration,
media sequence, program date time, parts, preload hint, server control, endlist) and places
every segment and part by position, never by guessing from URIs. `MediaTimeline` gives each
segment and part a continuous media offset across reloads, so playback deadlines stay
comparable while the window slides. Never fetches and never reads the clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, lru_cache

KEEP_SEGMENTS = 32  # spans remembered behind the newest segment
PARSED_CACHE = 256  # playlists kept parsed: thousands of listeners read the same few texts
_DURATION = re.compile(r"[:,]DURATION=([0-9.]+)")
_URI = re.compile(r'[:,]URI="([^"]*)"')


@dataclass(frozen=True)
class Part:
    msn: int
    index: int
    duration: float
    uri: str


@dataclass
class Segment:
    msn: int
    pdt: float | None = None  # EXT-X-PROGRAM-DATE-TIME, epoch seconds
    duration: float | None = None  # EXTINF; None while the segment is still being written
    uri: str | None = None
    discontinuity: bool = False
    parts: list[Part] = field(default_factory=list)

    @property
    def media_duration(self) -> float | None:
        if self.duration is not None:
            return self.duration
        return sum(p.duration for p in self.parts) if self.parts else None


@dataclass
class MediaPlaylist:
    target_duration: float = 0.0
    media_sequence: int = 0
    segments: list[Segment] = field(default_factory=list)
    part_target: float | None = None
    part_hold_back: float | None = None
    can_block_reload: bool = False
    hint: Part | None = None  # EXT-X-PRELOAD-HINT TYPE=PART; duration unknown (0)
    ended: bool = False
    can_skip_until: float | None = None  # delta updates offered (CAN-SKIP-UNTIL, seconds)
    skipped: int = 0  # a delta update: this many segments replaced by EXT-X-SKIP

    @property
    def low_latency(self) -> bool:
        return self.part_target is not None and self.part_hold_back is not None

    @cached_property
    def parts(self) -> list[Part]:
        return [p for s in self.segments for p in s.parts]

    @cached_property
    def complete_segments(self) -> list[Segment]:
        return [s for s in self.segments if s.duration is not None]


def _attr(line: str, name: str) -> str | None:
    """Value of attribute `name` in a tag's attribute list (quoted strings unquoted)."""
    at = line.find(name + "=")
    while at > 0 and line[at - 1] not in ":,":
        at = line.find(name + "=", at + 1)
    if at < 0:
        return None
    start = at + len(name) + 1
    if line.startswith('"', start):
        return line[start + 1:line.index('"', start + 1)]
    end = line.find(",", start)
    return line[start:] if end < 0 else line[start:end]


@lru_cache(maxsize=4096)
def parse_pdt(value: str) -> float:
    return datetime.fromisoformat(value.strip()).timestamp()


@lru_cache(maxsize=PARSED_CACHE)
def parse_media(text: str) -> MediaPlaylist:
    """Parse a media playlist; ValueError if it is not one. The result is shared between
    everyone who parses the same text (memoised): treat it as read-only."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "#EXTM3U":
        raise ValueError("not an HLS playlist (no #EXTM3U)")
    pl = MediaPlaylist()
    for line in lines:  # the sequence number must be known before any segment is placed
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            pl.media_sequence = int(line[22:])
            break
    seg = Segment(pl.media_sequence)
    hint_uri: str | None = None
    for line in lines:
        if not line:
            continue
        if line[0] != "#":
            if seg.duration is None:
                raise ValueError(f"segment URI {line[:60]!r} without #EXTINF")
            seg.uri = line.strip()
            pl.segments.append(seg)
            seg = Segment(seg.msn + 1)
        elif line.startswith("#EXT-X-PART:"):
            uri, dur = _URI.search(line), _DURATION.search(line)
            if uri is None or dur is None:
                raise ValueError(f"EXT-X-PART without URI or DURATION: {line[:80]!r}")
            seg.parts.append(Part(seg.msn, len(seg.parts), float(dur[1]), uri[1]))
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            seg.pdt = parse_pdt(line[25:])
        elif line.startswith("#EXTINF:"):
            seg.duration = float(line[8:].split(",", 1)[0])
        elif line == "#EXT-X-DISCONTINUITY":
            seg.discontinuity = True
        elif line.startswith("#EXT-X-SKIP:"):  # §4.4.5.2: before any segment it replaces
            n = _attr(line, "SKIPPED-SEGMENTS")
            if n is None or not n.isdigit() or pl.segments or seg.parts:
                raise ValueError(f"bad EXT-X-SKIP: {line[:80]!r}")
            pl.skipped = int(n)
            seg = Segment(seg.msn + pl.skipped)
        elif line.startswith("#EXT-X-PRELOAD-HINT:"):
            if _attr(line, "TYPE") == "PART":
                hint_uri = _attr(line, "URI")
        elif line.startswith("#EXT-X-TARGETDURATION:"):
            pl.target_duration = float(line[22:])
        elif line.startswith("#EXT-X-PART-INF:"):
            value = _attr(line, "PART-TARGET")
            pl.part_target = float(value) if value else None
        elif line.startswith("#EXT-X-SERVER-CONTROL:"):
            phb = _attr(line, "PART-HOLD-BACK")
            pl.part_hold_back = float(phb) if phb else None
            pl.can_block_reload = _attr(line, "CAN-BLOCK-RELOAD") == "YES"
            skip = _attr(line, "CAN-SKIP-UNTIL")
            pl.can_skip_until = float(skip) if skip else None
        elif line.startswith("#EXT-X-ENDLIST"):
            pl.ended = True
    if seg.parts:  # the segment being written: parts listed, no EXTINF yet
        pl.segments.append(seg)
    if hint_uri is not None:
        pl.hint = Part(seg.msn, len(seg.parts), 0.0, hint_uri)
    return pl


@dataclass(frozen=True)
class Span:
    """Where a segment or part sits: media offset (s), duration (s), wall time of its start."""

    offset: float
    duration: float
    pdt: float | None


class MediaTimeline:
    """Continuous media offsets for the segments and parts a listener has seen listed."""

    def __init__(self) -> None:
        self._segments: dict[int, Span] = {}
        self._newest = -1

    def update(self, pl: MediaPlaylist) -> None:
        prev: Segment | None = None
        prev_span: Span | None = None
        known = self._segments
        for seg in pl.segments:
            span = known.get(seg.msn)
            dur = seg.media_duration or 0.0
            if span is not None and span.duration == dur and span.pdt == seg.pdt:
                prev, prev_span = seg, span  # placed before, unchanged (most of a reload)
                continue
            offset: float | None = span.offset if span else None
            if offset is None and prev is not None and prev_span is not None and \
                    prev.msn == seg.msn - 1 and prev.media_duration is not None:
                offset = prev_span.offset + prev.media_duration
            if offset is None:
                offset = self._anchor(seg)
            span = Span(offset, dur, seg.pdt)
            known[seg.msn] = span
            prev, prev_span = seg, span
        if known and max(known) > self._newest:
            self._newest = newest = max(known)
            for msn in [m for m in known if m < newest - KEEP_SEGMENTS]:
                del known[msn]

    def _anchor(self, seg: Segment) -> float:
        """Offset of a segment not adjacent to any known one: by its PDT, else right after."""
        if not self._segments:
            return 0.0
        before = [m for m in self._segments if m < seg.msn]
        ref_msn = max(before) if before else min(self._segments)
        ref = self._segments[ref_msn]
        if seg.pdt is not None and ref.pdt is not None:
            return ref.offset + (seg.pdt - ref.pdt)
        return ref.offset + ref.duration if before else ref.offset - (seg.media_duration or 0)

    def segment(self, msn: int) -> Span | None:
        return self._segments.get(msn)

    def part(self, pl: MediaPlaylist, part: Part) -> Span | None:
        """The span of `part` as listed in `pl` (after `update(pl)`)."""
        seg_span = self._segments.get(part.msn)
        if seg_span is None:
            return None
        for seg in reversed(pl.segments):  # parts are listed for the newest segments only
            if seg.msn == part.msn:
                before = sum(p.duration for p in seg.parts[:part.index])
                pdt = None if seg_span.pdt is None else seg_span.pdt + before
                return Span(seg_span.offset + before, part.duration, pdt)
        return None
