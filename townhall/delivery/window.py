"""The live window: every published part and segment of one space, held in memory.

Sans-IO. Applies media events, answers lookups in O(1), evicts old segments, renders the
playlist. It never blocks and never touches disk or the database: listeners read only this.
"""

from __future__ import annotations

import gzip
from collections import OrderedDict

from townhall.media.events import MediaEvent, PartReady, SegmentClosed, SegmentOpened
from townhall.media.playlist import LowLatency, PlaylistSegment, render_media


class LiveWindow:
    def __init__(self, *, init: bytes, segment_target: float, part_target: float,
                 parts_per_segment: int, keep_segments: int = 8,
                 hold_back_parts: float = 3.0) -> None:
        if hold_back_parts < 2:
            raise ValueError("PART-HOLD-BACK must be at least two parts (rfc8216bis §4.4.3.8)")
        if keep_segments < 3:
            raise ValueError("keep_segments must be at least 3 (rfc8216bis §6.2.2)")
        self.init = init
        self.segment_target = segment_target
        self.part_target = part_target
        self.parts_per_segment = parts_per_segment
        self.keep_segments = keep_segments
        part_hold_back = round(hold_back_parts * part_target, 5)
        # parts are listed for the segments that start within two target durations of the
        # end: never less than one whole segment of parts, where a joining hls.js starts
        # (rfc8216bis §6.2.2 lets EXT-X-PART tags go "no longer at the live edge"; their
        # parts stay fetchable while the segment is in the window). Three target durations
        # (the SHOULD's bound) cost ~20 gzipped bytes more on every 0.32 s reload; one
        # segment plus the hold-back made hls.js join a whole segment back (2.0 s from live).
        self.low_latency = LowLatency(part_target=part_target, part_hold_back=part_hold_back,
                                      parts_window=2 * segment_target)
        self.segments: OrderedDict[int, PlaylistSegment] = OrderedDict()
        self._parts: dict[tuple[int, int], bytes] = {}
        self._segment_bytes: dict[int, bytes] = {}
        self.discontinuity_sequence = 0
        self.ended = False
        self.version = 0  # bumps on every change; waiters compare it
        self._rendered: dict[tuple[str, bool, bool], tuple[int, str]] = {}
        self._encoded: dict[tuple[bool, bool, bool], bytes] = {}
        self._encoded_version = -1

    # --- writes (from the program pipeline) ---
    def apply(self, event: MediaEvent) -> None:
        if self.ended:
            raise ValueError("the window has ended; nothing more can be published")
        if isinstance(event, SegmentOpened):
            self.segments[event.msn] = PlaylistSegment(event.msn, event.program_date_time,
                                                       event.discontinuity)
        elif isinstance(event, PartReady):
            seg = self.segments[event.msn]
            if event.index != len(seg.part_durations):
                raise ValueError(f"part {event.msn}.{event.index} published out of order")
            seg.part_durations.append(event.duration)
            self._parts[(event.msn, event.index)] = event.data
        elif isinstance(event, SegmentClosed):
            self.segments[event.msn].duration = event.duration
            self._segment_bytes[event.msn] = event.data
            self._evict()
        self.version += 1

    def end(self) -> None:
        self.ended = True
        # an unfinished segment cannot be listed without EXTINF; its parts stay fetchable
        if self.segments:
            last = next(reversed(self.segments.values()))
            if not last.complete:
                del self.segments[last.msn]
        self.version += 1

    def _evict(self) -> None:
        while sum(1 for s in self.segments.values() if s.complete) > self.keep_segments:
            msn, seg = self.segments.popitem(last=False)
            for i in range(len(seg.part_durations)):
                self._parts.pop((msn, i), None)
            self._segment_bytes.pop(msn, None)
            if seg.discontinuity and self.segments:
                self.discontinuity_sequence += 1

    # --- reads (listener path) ---
    def part(self, msn: int, index: int) -> bytes | None:
        return self._parts.get((msn, index))

    def segment(self, msn: int) -> bytes | None:
        return self._segment_bytes.get(msn)

    @property
    def last_complete_msn(self) -> int:
        for seg in reversed(self.segments.values()):
            if seg.complete:
                return seg.msn
        return -1

    def next_part(self) -> tuple[int, int]:
        """The (msn, index) of the part that will be published next."""
        if not self.segments:
            return (0, 0)
        last = next(reversed(self.segments.values()))
        if last.complete:
            return (last.msn + 1, 0)
        return (last.msn, len(last.part_durations))

    def has_part(self, msn: int, index: int) -> bool:
        return (msn, index) in self._parts

    def render(self, query: str = "", *, delta: bool = False, standard: bool = False) -> str:
        """The playlist now (a delta update when `delta`; whole segments only, the standard
        latency tier, when `standard`); rendered once per publication and shared by every
        listener."""
        cached = self._rendered.get((query, delta, standard))
        if cached is not None and cached[0] == self.version:
            return cached[1]
        text = render_media(list(self.segments.values()), segment_target=self.segment_target,
                            discontinuity_sequence=self.discontinuity_sequence,
                            ended=self.ended, query=query, delta=delta,
                            low_latency=None if standard else self.low_latency)
        if len(self._rendered) > 8:
            self._rendered.clear()
        self._rendered[(query, delta, standard)] = (self.version, text)
        return text

    def render_bytes(self, *, delta: bool = False, gzipped: bool = False,
                     standard: bool = False) -> bytes:
        """The playlist as bytes, encoded (and gzip-compressed) once per publication: a
        listener's request never compresses anything."""
        if self._encoded_version != self.version:
            self._encoded.clear()
            self._encoded_version = self.version
        key = (delta, gzipped, standard)
        body = self._encoded.get(key)
        if body is None:
            body = self.render(delta=delta, standard=standard).encode()
            if gzipped:
                body = gzip.compress(body, compresslevel=9, mtime=0)
            self._encoded[key] = body
        return body
