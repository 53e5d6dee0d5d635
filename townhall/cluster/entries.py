"""The replicated program: media events as entries of a space's part stream. Sans-IO.

The origin holding a space's lease appends every event it publishes (segment opened, part,
segment closed, end) before any listener can see it; standbys apply the same entries to their
own live window and recording. Each entry has a stream id made from its place in the program
(`msn+1 - k`), so a replay of the same entries (an outbox resent after an outage) is idempotent and
a standby that reads "after id X" never sees one twice.

Layout of an entry's bytes: kind (u8) | discontinuity (u8) | msn (u32) | index (u32) |
duration in µs (u64) | program date time in µs (u64) | decode time after it (u64) |
sent at, epoch µs (u64: the standbys' replication lag) | data.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from townhall.media.events import MediaEvent, PartReady, SegmentClosed, SegmentOpened

HEAD = struct.Struct(">BBIIQQQQ")
OPENED, PART, CLOSED, END = 1, 2, 3, 4
CLOSED_K = 999_998  # ids: msn-0 opens, msn-(index+1) parts, msn-CLOSED_K closes, msn-END_K ends
END_K = 999_999


@dataclass(frozen=True)
class Entry:
    kind: int
    msn: int
    index: int = 0
    duration: float = 0.0
    program_date_time: float = 0.0
    discontinuity: bool = False
    decode_time: int = 0  # the program's decode time once this entry is published
    data: bytes = b""
    sent_at: float = 0.0  # epoch seconds the holder appended it

    @property
    def stream_id(self) -> str:
        k = {OPENED: 0, PART: self.index + 1, CLOSED: CLOSED_K, END: END_K}[self.kind]
        return f"{self.msn + 1}-{k}"  # Redis refuses the id 0-0

    def __bytes__(self) -> bytes:
        return HEAD.pack(self.kind, int(self.discontinuity), self.msn, self.index,
                         round(self.duration * 1e6), round(self.program_date_time * 1e6),
                         self.decode_time, round(self.sent_at * 1e6)) + self.data

    @classmethod
    def parse(cls, blob: bytes) -> Entry:
        if len(blob) < HEAD.size:
            raise ValueError(f"entry of {len(blob)} bytes is shorter than its header")
        kind, disc, msn, index, dur, pdt, decode, sent = HEAD.unpack_from(blob)
        if kind not in (OPENED, PART, CLOSED, END):
            raise ValueError(f"unknown entry kind {kind}")
        return cls(kind, msn, index, dur / 1e6, pdt / 1e6, bool(disc), decode,
                   blob[HEAD.size:], sent / 1e6)

    def event(self) -> MediaEvent | None:
        """The media event this entry carries (None for END)."""
        if self.kind == OPENED:
            return SegmentOpened(self.msn, self.program_date_time, self.discontinuity)
        if self.kind == PART:
            return PartReady(self.msn, self.index, self.data, self.duration)
        if self.kind == CLOSED:
            return SegmentClosed(self.msn, self.duration, self.data)
        return None


def entry_of(event: MediaEvent, decode_time: int, sent_at: float) -> Entry:
    if isinstance(event, SegmentOpened):
        return Entry(OPENED, event.msn, program_date_time=event.program_date_time,
                     discontinuity=event.discontinuity, decode_time=decode_time,
                     sent_at=sent_at)
    if isinstance(event, PartReady):
        return Entry(PART, event.msn, event.index, event.duration, decode_time=decode_time,
                     data=event.data, sent_at=sent_at)
    return Entry(CLOSED, event.msn, duration=event.duration, decode_time=decode_time,
                 data=event.data, sent_at=sent_at)


def end_entry(last_msn: int, decode_time: int) -> Entry:
    return Entry(END, max(last_msn, 0), decode_time=decode_time)
