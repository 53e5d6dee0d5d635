"""The edge's seat log, compacted by size (admission.seat_log): the history answers the
shared-ticket check exactly as the uncompacted lines would, for every moment inside the
window, and stays within its bound; what a bound forces out is the oldest and is counted."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from townhall.admission.seat_log import compact
from townhall.admission.shared_tickets import shared_seats

LINE = st.tuples(st.integers(0, 1000), st.sampled_from(["s1", "s2"]),
                 st.sampled_from(["a", "b", "c", "d"]),
                 st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.0.3", "2001:db8::1"]))


def text(at: int, space: str, seat: str, address: str) -> str:
    return f"{at / 1000 + 1e9:.3f} {space} {seat} {address}"


@settings(max_examples=300, deadline=None)
@given(st.lists(LINE, max_size=200), st.integers(0, 1000), st.integers(0, 1000),
       st.integers(1, 3))
def test_the_history_finds_the_same_shared_seats_at_every_moment_of_the_window(
        lines: list[tuple[int, str, str, str]], start: int, probe: int, most: int) -> None:
    raw = [text(*line) for line in lines]
    since = start / 1000 + 1e9
    out = compact(raw, since, 10**9)
    assert out.dropped == 0
    assert out.kept + out.merged + out.expired + out.malformed == len(raw)
    moment = max(since, probe / 1000 + 1e9)
    assert set(shared_seats(out.lines, most, moment)) == set(shared_seats(raw, most, moment))


def test_one_tickets_flood_is_one_line_per_address() -> None:
    flood = [text(i % 1000, "s1", "seat", "203.0.113.9") for i in range(100_000)]
    out = compact([*flood, "garbage", ""], 1e9, 4096)
    assert out.lines == [text(999, "s1", "seat", "203.0.113.9")]
    assert out.merged == 99_999 and out.malformed == 1 and out.dropped == 0


def test_past_the_bound_the_oldest_records_go_first_and_are_counted() -> None:
    raw = [text(i, "s1", f"seat{i:03d}", "10.0.0.1") for i in range(100)]
    line_bytes = len(raw[0]) + 1
    out = compact(raw, 1e9, 40 * line_bytes)
    assert out.size <= 40 * line_bytes and out.dropped == 60 and out.kept == 40
    assert out.lines == raw[60:]


def test_lines_older_than_the_window_are_not_kept_and_are_no_loss() -> None:
    raw = [text(i, "s1", "seat", f"10.0.0.{i}") for i in range(10)]
    out = compact(raw, 1e9 + 0.005, 10**6)
    assert out.expired == 5 and out.dropped == 0 and out.lines == raw[5:]
