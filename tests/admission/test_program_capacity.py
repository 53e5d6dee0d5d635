"""The live-program ceiling follows the lag measured on the machine it runs on (sans-IO,
a fake clock and a fake machine whose programs run late past what it can carry)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from townhall.admission.program_capacity import ProgramCapacity

SAMPLE_S = 0.25


def machine_lag(programs: int, carries: int) -> float:
    """A machine that keeps time for `carries` programs, then falls 0.3 s behind per extra."""
    return max(0.0, (programs - carries) * 0.3) + 0.002


def fill(capacity: ProgramCapacity, carries: int, operator: bool = False,
         arrivals: int = 60) -> int:
    """Programs arrive one every 2 s of fake time and stay: how many went on air."""
    now, on_air = 0.0, 0
    for _ in range(arrivals):
        for _ in range(int(2.0 / SAMPLE_S)):  # the lag sampler runs meanwhile
            now += SAMPLE_S
            capacity.observe(machine_lag(on_air, carries), now)
        if capacity.admit(on_air, operator, now).admitted:
            on_air += 1
    return on_air


@given(st.integers(1, 30))
def test_a_machine_carries_what_it_measures_never_more_than_the_upper_bound(
        carries: int) -> None:
    upper, reserved = 20, 2
    on_air = fill(ProgramCapacity(upper, 0.25, 10.0, reserved), carries)
    assert on_air <= upper - reserved
    # at most one program past what keeps time: the one whose lag showed it
    assert on_air <= carries + 1
    assert on_air >= min(carries, upper - reserved)


def test_a_slow_machine_stops_well_below_the_constant() -> None:
    assert fill(ProgramCapacity(20, 0.25, 10.0, 2), carries=6) in (6, 7)


def test_the_operator_takes_the_reserved_slots_and_is_never_gated_by_lag() -> None:
    cap = ProgramCapacity(upper=5, lag_budget_s=0.25, window_s=10.0, reserved=2)
    for t in range(20):
        cap.observe(5.0, float(t))  # badly late
    assert not cap.admit(1, False, 20.0).admitted
    assert cap.admit(1, False, 20.0).code == "origin_busy"
    assert cap.admit(3, True, 20.0).admitted
    assert cap.admit(3, False, 50.0).code == "origin_full"  # reserved, lag long gone
    assert cap.admit(5, True, 50.0).code == "origin_full"  # the upper bound binds everyone


def test_lag_older_than_the_window_is_forgotten() -> None:
    cap = ProgramCapacity(upper=20, lag_budget_s=0.25, window_s=10.0)
    cap.observe(2.0, 0.0)
    assert not cap.admit(1, False, 5.0).admitted
    cap.observe(0.01, 11.0)
    assert cap.admit(1, False, 11.0).admitted and cap.recent_lag(11.0) == 0.01
    assert cap.admit(0, False, 5.0).admitted  # nothing on air: nothing to measure
