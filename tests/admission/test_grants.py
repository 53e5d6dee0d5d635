"""Join grants and grant seats: checked without a lookup, counted until they lapse."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from townhall.admission.grants import GrantError, JoinGrants
from townhall.admission.seat_count import Audience, SeatCount

SECRET = b"s" * 32
NOW = 1_800_000_000.0


def test_a_grant_admits_to_its_space_until_it_lapses_with_the_lifetime_it_names() -> None:
    grants = JoinGrants(SECRET)
    g = grants.issue("space00001", 900.0, NOW, valid_s=60)
    assert grants.check(g, "space00001", NOW + 59) == 900.0
    with pytest.raises(GrantError) as lapsed:
        grants.check(g, "space00001", NOW + 61)
    assert lapsed.value.code == "grant_expired"
    with pytest.raises(GrantError) as other:
        grants.check(g, "space00002", NOW)
    assert other.value.code == "bad_grant"


def test_a_grant_cannot_be_forged_stretched_or_made_by_another_secret() -> None:
    grants = JoinGrants(SECRET)
    g = grants.issue("space00001", 120.0, NOW, valid_s=60)
    prefix, space, until, ttl, sig = g.split(".")
    for forged in (f"{prefix}.{space}.{int(until) + 3600}.{ttl}.{sig}",  # longer validity
                   f"{prefix}.{space}.{until}.99999.{sig}",  # longer seats
                   JoinGrants(b"o" * 32).issue("space00001", 120.0, NOW, valid_s=60)):
        with pytest.raises(GrantError) as err:
            grants.check(forged, "space00001", NOW)
        assert err.value.code == "bad_grant"


@given(st.text(max_size=150))
def test_no_string_is_taken_for_a_grant_unless_signed(text: str) -> None:
    with pytest.raises(GrantError):
        JoinGrants(SECRET).check(text, "space00001", NOW)


def test_grant_seats_count_until_they_lapse_and_renewal_keeps_one_seat() -> None:
    seats = SeatCount()
    seats.hold("a", NOW + 10, NOW)
    seats.hold("b", NOW + 20, NOW)
    seats.hold("a", NOW + 30, NOW + 5)  # renewed: still one seat
    assert seats.count(NOW + 5) == 2
    assert seats.count(NOW + 25) == 1  # b lapsed
    seats.leave("a")
    assert seats.count(NOW + 25) == 0


def test_each_origin_counts_once_with_its_latest_fresh_report() -> None:
    audience = Audience(fresh_s=10)
    audience.report("b", 5, NOW)
    audience.report("b", 7, NOW + 2)
    audience.report("b", 3, NOW + 1)  # older than what we have: ignored
    audience.report("c", 4, NOW + 2)
    assert audience.total(NOW + 3) == 11
    assert audience.total(NOW + 11) == 11  # both still within 10 s of their report
    assert audience.total(NOW + 12.5) == 0  # both went quiet: not counted any more
