"""Cuts a stream of encoded audio frames into LL-HLS parts and segments.

Sans-IO: fed access units and the wall-clock time of each (for EXT-X-PROGRAM-DATE-TIME),
returns events. Part boundaries are whole frames, so every part decodes on its own.
Never encodes, never sleeps, never stores what it has emitted.
"""

from __future__ import annotations

from dataclasses import dataclass

from townhall.media.cmaf import AudioTrack, fragment
from townhall.media.events import MediaEvent, PartReady, SegmentClosed, SegmentOpened


@dataclass(frozen=True)
class Cadence:
    """How many frames make a part and how many parts make a segment."""

    part_frames: int
    parts_per_segment: int

    def __post_init__(self) -> None:
        if self.part_frames < 1 or self.parts_per_segment < 1:
            raise ValueError("part_frames and parts_per_segment must be at least 1")


class Packager:
    def __init__(self, track: AudioTrack, cadence: Cadence, *, first_msn: int = 0,
                 first_sequence: int = 1, first_decode_time: int = 0) -> None:
        self.track = track
        self.cadence = cadence
        self.next_msn = first_msn
        self._sequence = first_sequence
        self._decode_time = first_decode_time
        self._part_samples: list[bytes] = []
        self._part_start = first_decode_time
        self._segment_parts: list[bytes] = []
        self._segment_frames = 0
        self._segment_open = False
        self._pending_discontinuity = False

    @property
    def frame_seconds(self) -> float:
        return self.track.samples_per_frame / self.track.sample_rate

    @property
    def part_target(self) -> float:
        return self.cadence.part_frames * self.frame_seconds

    @property
    def segment_target(self) -> float:
        return self.part_target * self.cadence.parts_per_segment

    @property
    def decode_time(self) -> int:
        """Decode time (track timescale) of the next frame to be pushed."""
        return self._decode_time

    def mark_discontinuity(self) -> None:
        """The next segment starts after a break in the program (EXT-X-DISCONTINUITY)."""
        self._pending_discontinuity = True

    def continue_segment(self, parts: list[bytes], frames: int) -> None:
        """Segment `next_msn` was begun elsewhere (a standby takes a program over): its
        published `parts` (`frames` frames in all) open it, the next part follows them."""
        self._segment_parts = list(parts)
        self._segment_frames = frames
        self._segment_open = bool(parts)

    def push(self, frame: bytes, wallclock: float) -> list[MediaEvent]:
        if not frame:
            raise ValueError("empty access unit")
        events: list[MediaEvent] = []
        if not self._segment_open:
            events.append(SegmentOpened(self.next_msn, wallclock, self._pending_discontinuity))
            self._pending_discontinuity = False
            self._segment_open = True
        if not self._part_samples:
            self._part_start = self._decode_time
        self._part_samples.append(frame)
        self._decode_time += self.track.samples_per_frame
        if len(self._part_samples) == self.cadence.part_frames:
            events.append(self._emit_part())
            if len(self._segment_parts) == self.cadence.parts_per_segment:
                events.append(self._close_segment())
        return events

    def flush(self) -> list[MediaEvent]:
        """Publish what is buffered as a short part and close the segment (pause or end)."""
        events: list[MediaEvent] = []
        if self._part_samples:
            events.append(self._emit_part())
        if self._segment_open and self._segment_parts:
            events.append(self._close_segment())
        return events

    def _emit_part(self) -> PartReady:
        samples = self._part_samples
        data = fragment(self._sequence, self._part_start, samples, self.track.samples_per_frame)
        self._sequence += 1
        part = PartReady(self.next_msn, len(self._segment_parts), data,
                         len(samples) * self.frame_seconds)
        self._segment_parts.append(data)
        self._segment_frames += len(samples)
        self._part_samples = []
        return part

    def _close_segment(self) -> SegmentClosed:
        closed = SegmentClosed(self.next_msn, self._segment_frames * self.frame_seconds,
                               b"".join(self._segment_parts))
        self.next_msn += 1
        self._segment_parts = []
        self._segment_frames = 0
        self._segment_open = False
        return closed
