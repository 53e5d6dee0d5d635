"""The load report survives a trip through JSON (runs in another process are read back)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from townhall.loadtest.metrics import Tally, summary
from townhall.loadtest.report import LoadReport


def a_report() -> LoadReport:
    tally = Tally()
    tally.loop_lag(0.3, at=100.2)
    tally.stall(0.18, at=100.0)  # while the generator's loop was 300 ms late
    second = tally.close_second(7, Counter(playing=2), 1, [2.4, 2.6])
    return LoadReport(
        target="http://127.0.0.1:9", space="abc", mode="ll", started_at=1.0, duration_s=10.0,
        listeners_requested=2, listeners_by_state={"done": 2}, admitted=2, played=2,
        waited_in_line=0, failed=0, ttfa_s=summary([0.1, 0.2]), stalls=1, stalled_s=0.18,
        listeners_with_stalls=1, gaps=0, live_edge_s=summary([2.4, 2.6]),
        headroom_s=summary([-0.18, 0.3], (1, 5, 50)), requests=10, bytes=1000, errors={},
        events={}, attack={}, process={"cpu_s": 1.0}, timeline=[second],
        stalls_generator_lag=tally.stalls_generator_lag, loop_lag_s=summary(tally.loop_lags))


def test_a_report_read_back_from_json_equals_the_one_written(tmp_path: Path) -> None:
    report = a_report()
    assert LoadReport.read_json(report.write_json(tmp_path / "r.json")) == report


def test_stall_seconds_name_when_the_stalls_were_and_the_generators_own_lag() -> None:
    lines = a_report().stall_seconds()
    assert len(lines) == 1
    assert lines[0].startswith("t=7s: 1 stalls (0.18 s; 1 with the generator's own loop lag), "
                               "generator loop lag 300 ms")


def test_a_stall_counts_as_the_generators_own_only_when_its_loop_lagged_around_it() -> None:
    tally = Tally()
    tally.loop_lag(0.001, at=49.0)
    tally.loop_lag(0.25, at=50.3)  # the loop was blocked from 50.05 to 50.3
    tally.stall(0.2, at=50.1)  # inside the lag: the generator's own
    tally.stall(0.2, at=51.2)  # lag ended 0.9 s before: within the look-back, counted
    tally.stall(0.6, at=50.1)  # longer than twice the lag: the service's
    tally.stall(0.2, at=60.0)  # no lag near it: the service's
    tally.stall(0.2)  # no time given: the service's
    second = tally.close_second(1, Counter(playing=1), 0, [])
    assert (tally.stalls, tally.stalls_generator_lag) == (5, 2)
    assert (second.stalls, second.stalls_generator_lag) == (5, 2)
    assert a_report().stalls_unexplained == 0


def test_a_stall_of_a_few_milliseconds_is_the_generators_when_its_loop_was_late_as_long(
        ) -> None:
    tally = Tally()
    tally.loop_lag(0.006, at=10.0)
    tally.stall(0.004, at=10.2)  # 4 ms beside a 6 ms lag: the generator's own
    tally.stall(0.008, at=10.2)  # 8 ms: longer than the lag, the service's
    tally.loop_lag(0.002, at=20.0)
    tally.stall(0.004, at=20.1)  # a 2 ms lag explains no 4 ms stall: the service's
    assert (tally.stalls, tally.stalls_generator_lag) == (3, 1)


def test_a_stall_ended_while_the_loop_is_still_blocked_counts_the_lag_in_progress() -> None:
    tally = Tally()
    tally.loop_lag(0.001, at=99.95)
    tally.probe_due = 100.0  # the probe's timer is due; the loop blocked until 100.3
    # the I/O that ends the stall runs in the loop turn before the overdue probe records it
    tally.stall(0.1, at=100.15, now=100.3)
    tally.stall(0.1, at=100.15, now=100.02)  # probe only 20 ms late: the service's
    assert (tally.stalls, tally.stalls_generator_lag) == (2, 1)
