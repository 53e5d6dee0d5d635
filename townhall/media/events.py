"""Events the media core emits. Small, frozen, and free of I/O handles."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SegmentOpened:
    """A new media segment starts; its first part follows."""

    msn: int
    program_date_time: float  # epoch seconds of the segment's first sample
    discontinuity: bool


@dataclass(frozen=True)
class PartReady:
    """An immutable CMAF chunk, published as an LL-HLS partial segment."""

    msn: int
    index: int
    data: bytes
    duration: float
    independent: bool = True


@dataclass(frozen=True)
class SegmentClosed:
    """Segment `msn` is complete; `data` is the concatenation of its parts."""

    msn: int
    duration: float
    data: bytes


MediaEvent = SegmentOpened | PartReady | SegmentClosed
