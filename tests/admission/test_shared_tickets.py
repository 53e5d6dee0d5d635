"""Seat secrets and the shared-seat count, without sockets."""

from __future__ import annotations

from townhall.admission.shared_tickets import SharedSeat, shared_seats
from townhall.admission.tickets import TicketSigner


def test_a_seat_secret_proves_one_seat_of_one_space() -> None:
    signer = TicketSigner("s" * 32)
    secret = signer.seat_secret("space00001", "abc")
    assert signer.holds("space00001", "abc", secret)
    assert not signer.holds("space00001", "abd", secret)
    assert not signer.holds("space00002", "abc", secret)
    assert not signer.holds("space00001", "abc", None) and not signer.holds("space00001", "abc", "")
    assert secret not in str(signer.issue("space00001", "abc", 2_000_000_000))


def test_seats_started_from_too_many_addresses_are_shared() -> None:
    lines = [f"{100 + i}.0 sp1 seatA 10.0.0.{i}" for i in range(5)]
    lines += ["101.0 sp1 seatB 10.0.0.1", "102.0 sp1 seatB 10.0.0.2", "garbage",
              "50.0 sp1 seatC 10.0.0.1", "51.0 sp1 seatC 10.0.0.2", "52.0 sp1 seatC 10.0.0.3"]
    assert shared_seats(lines, 2, since=60.0) == [SharedSeat("sp1", "seatA", 5)]
    assert [s.seat for s in shared_seats(lines, 2)] == ["seatA", "seatC"]
