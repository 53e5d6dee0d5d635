"""The open segment's journal: what a crash leaves of it still reads back. Bytes only."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from townhall.recording import journal

PARTS = [(b"moof-mdat-%d" % i * (i + 1), 0.32 + i / 1000) for i in range(5)]


def whole() -> bytes:
    return journal.header(12, 1.7e9 + 0.5, True) + b"".join(
        journal.record(data, dur) for data, dur in PARTS)


def test_a_journal_reads_back_as_its_segment_and_parts() -> None:
    seg = journal.parse(whole())
    assert (seg.msn, seg.program_date_time, seg.discontinuity) == (12, 1.7e9 + 0.5, True)
    assert [d for d, _ in seg.parts] == [d for d, _ in PARTS]
    assert [dur for _, dur in seg.parts] == pytest.approx([dur for _, dur in PARTS], abs=1e-6)
    assert seg.data == b"".join(d for d, _ in PARTS)


@given(cut=st.integers(0, len(whole())))
def test_a_journal_torn_anywhere_keeps_every_part_written_before_the_tear(cut: int) -> None:
    blob = whole()[:cut]
    head = len(journal.header(12, 1.7e9 + 0.5, True))
    if cut < head:
        with pytest.raises(ValueError):
            journal.parse(blob)
        return
    seg = journal.parse(blob)
    ends, pos = [], head
    for data, dur in PARTS:
        pos += len(journal.record(data, dur))
        ends.append(pos)
    assert len(seg.parts) == sum(1 for e in ends if e <= cut)
    assert seg.data == b"".join(d for d, _ in PARTS[: len(seg.parts)])


def test_a_damaged_part_ends_the_journal_there() -> None:
    blob = bytearray(whole())
    head = len(journal.header(12, 1.7e9 + 0.5, True))
    second = head + len(journal.record(*PARTS[0])) + journal.RECORD.size
    blob[second] ^= 0xFF  # a flipped byte in the second part's data
    assert [d for d, _ in journal.parse(bytes(blob)).parts] == [PARTS[0][0]]


def test_an_unreadable_header_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError, match="unreadable"):
        journal.parse(b'{"msn": "x"}\n' + journal.record(b"a", 0.3))
