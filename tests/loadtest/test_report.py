"""The load report survives a trip through JSON (runs in another process are read back)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from townhall.loadtest.metrics import Tally, summary
from townhall.loadtest.report import LoadReport


def a_report() -> LoadReport:
    tally = Tally()
    tally.stall(0.18)
    tally.loop_lag(0.3)
    second = tally.close_second(7, Counter(playing=2), 1, [2.4, 2.6])
    return LoadReport(
        target="http://127.0.0.1:9", space="abc", mode="ll", started_at=1.0, duration_s=10.0,
        listeners_requested=2, listeners_by_state={"done": 2}, admitted=2, played=2,
        waited_in_line=0, failed=0, ttfa_s=summary([0.1, 0.2]), stalls=1, stalled_s=0.18,
        listeners_with_stalls=1, gaps=0, live_edge_s=summary([2.4, 2.6]),
        headroom_s=summary([-0.18, 0.3], (1, 5, 50)), requests=10, bytes=1000, errors={},
        events={}, attack={}, process={"cpu_s": 1.0}, timeline=[second])


def test_a_report_read_back_from_json_equals_the_one_written(tmp_path: Path) -> None:
    report = a_report()
    assert LoadReport.read_json(report.write_json(tmp_path / "r.json")) == report


def test_stall_seconds_name_when_the_stalls_were_and_the_generators_own_lag() -> None:
    lines = a_report().stall_seconds()
    assert len(lines) == 1
    assert lines[0].startswith("t=7s: 1 stalls (0.18 s), generator loop lag 300 ms")
