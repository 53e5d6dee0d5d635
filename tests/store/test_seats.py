"""Stage seats in the SQLite store: what is saved is what a restarted process loads."""

from __future__ import annotations

from pathlib import Path

from townhall.space.roles import Role, Seat, SeatState
from townhall.store.sqlite import SqliteSpaceStore


def test_saved_seats_load_back_per_space_with_the_latest_state_winning(tmp_path: Path) -> None:
    store = SqliteSpaceStore(tmp_path / "t.db")
    grace = Seat("seat-grace", "Grace", Role.SPEAKER, SeatState.LIVE, 10.0, True, True)
    hand = Seat("seat-hand1", "Curious", Role.LISTENER, SeatState.RAISED, 11.0)
    store.save_seats("space1", [grace, hand])
    store.save_seats("space2", [Seat("seat-other", "Other", Role.COHOST, SeatState.INVITED, 9.0)])
    removed = Seat("seat-grace", "Grace", Role.SPEAKER, SeatState.REMOVED, 12.0, True, True)
    store.save_seats("space1", [removed])
    store.close()

    again = SqliteSpaceStore(tmp_path / "t.db")
    assert again.load_seats("space1") == [hand, removed]
    assert [s.id for s in again.load_seats("space2")] == ["seat-other"]
    assert again.load_seats("nothing") == []
    again.close()
