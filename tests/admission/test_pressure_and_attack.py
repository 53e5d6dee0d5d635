from __future__ import annotations

from townhall.admission.attack import AttackMode, RateMeter
from townhall.admission.pressure import Ceiling, Pressure, Priority, classify


def test_requests_are_classified_by_priority() -> None:
    assert classify("GET", "/live/abc/t/x/part/1.2.m4s") is Priority.MEDIA
    assert classify("POST", "/api/spaces/abc/join") is Priority.ADMISSION
    assert classify("GET", "/live/abc/master.m3u8") is Priority.ADMISSION  # entry URL: a join
    assert classify("GET", "/live/abc/t/x/master.m3u8") is Priority.MEDIA
    assert classify("POST", "/api/admit/abc") is Priority.ADMISSION
    assert classify("POST", "/api/spaces/abc/audience") is Priority.ADMISSION
    assert classify("GET", "/api/spaces/abc") is Priority.STATUS
    assert classify("POST", "/api/spaces/abc/reactions") is Priority.WRITES
    assert classify("GET", "/wp-login.php") is Priority.OTHER


def test_lowest_priority_is_shed_first_and_media_last() -> None:
    p = Pressure()
    p.observe_lag(0.2)
    assert not p.admit(Priority.OTHER) and not p.admit(Priority.WRITES)
    assert p.admit(Priority.STATUS) and p.admit(Priority.ADMISSION) and p.admit(Priority.MEDIA)
    p.observe_lag(1.0)
    assert not p.admit(Priority.STATUS) and not p.admit(Priority.ADMISSION)
    assert p.admit(Priority.MEDIA)
    assert p.shed[Priority.OTHER] == 1 and p.shed[Priority.MEDIA] == 0


def test_in_flight_ceilings_shed_by_class() -> None:
    p = Pressure({prio: Ceiling(10.0, 10 * (5 - int(prio))) for prio in Priority})
    p.in_flight = 15
    assert not p.admit(Priority.OTHER)
    assert p.admit(Priority.ADMISSION)


def test_lag_rises_at_once_and_falls_smoothly() -> None:
    p = Pressure(smoothing=0.5)
    p.observe_lag(1.0)
    assert p.lag_s == 1.0
    p.observe_lag(0.0)
    assert p.lag_s == 0.5


def test_rate_meter_counts_over_its_window() -> None:
    m = RateMeter(window_s=5)
    for i in range(50):
        m.add(100 + i / 10)
    assert m.rate(104.9) == 10.0
    assert m.rate(200) == 0.0


def test_auto_attack_mode_switches_on_with_joins_and_off_after_calm() -> None:
    a = AttackMode("auto", join_threshold=10, shed_threshold=5, cooldown_s=30,
                   min_difficulty=8, max_difficulty=20)
    assert not a.active(0)
    for i in range(500):
        a.joins.add(i / 100)  # 100 joins/s
    assert a.active(5)
    assert a.difficulty(5) > 8
    assert a.active(20)  # calm for less than the cooldown
    assert a.active(40)
    assert not a.active(51)


def test_operator_forces_attack_mode() -> None:
    a = AttackMode("on", 10, 5, 30, 8, 20)
    assert a.active(0) and a.difficulty(0) == 8
    a.set_mode("off")
    for i in range(5000):
        a.joins.add(i / 1000)
    assert not a.active(4)
