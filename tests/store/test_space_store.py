"""The space store on both backends: what is saved is what a restarted process loads."""

from __future__ import annotations

from collections.abc import Callable

from townhall.space.lifecycle import Phase
from townhall.space.roles import Role, Seat, SeatState
from townhall.space.space_record import SpaceRecord
from townhall.store.factory import Stores


def record(space_id: str, created: float, **more: object) -> SpaceRecord:
    return SpaceRecord(id=space_id, title="Budget hearing", host="Clerk",
                       host_key_hash="h" * 64, created_at=created, **more)  # type: ignore[arg-type]


def test_saved_spaces_load_back_oldest_first_with_every_field(
        open_store: Callable[[], Stores]) -> None:
    store = open_store().spaces
    later = record("b2", 200.5, scheduled_start=300.25, listener_cap=5000)
    first = record("a1", 100.0)
    store.save(later)
    store.save(first)
    ended = record("a1", 100.0, phase=Phase.ENDED, actual_start=101.5, ended_at=160.0,
                   peak_listeners=12_345_678, has_replay=True)
    store.save(ended)  # the latest write of a space wins

    again = open_store().spaces
    assert again.load_all() == [ended, later]
    assert again.load("b2") == later
    assert again.load("nope") is None


def test_saved_seats_load_back_per_space_with_the_latest_state_winning(
        open_store: Callable[[], Stores]) -> None:
    store = open_store().spaces
    grace = Seat("seat-grace", "Grace", Role.SPEAKER, SeatState.LIVE, 10.0, True, True)
    hand = Seat("seat-hand1", "Curious", Role.LISTENER, SeatState.RAISED, 11.0)
    store.save_seats("space1", [grace, hand])
    store.save_seats("space2", [Seat("seat-other", "Other", Role.COHOST, SeatState.INVITED, 9.0)])
    removed = Seat("seat-grace", "Grace", Role.SPEAKER, SeatState.REMOVED, 12.0, True, True)
    store.save_seats("space1", [removed])

    again = open_store().spaces
    assert again.load_seats("space1") == [hand, removed]
    assert [s.id for s in again.load_seats("space2")] == ["seat-other"]
    assert again.load_seats("nothing") == []


def test_an_open_store_answers_its_readiness_ping(open_store: Callable[[], Stores]) -> None:
    open_store().ping()


def test_a_late_write_of_an_older_state_never_brings_an_ended_space_back(
        open_store: Callable[[], Stores]) -> None:
    store = open_store().spaces
    ended = record("c3", 1.0, phase=Phase.ENDED, ended_at=9.0, has_replay=True)
    store.save(ended)
    store.save(record("c3", 1.0, phase=Phase.LIVE, peak_listeners=4))
    assert store.load("c3") == ended


def test_a_save_from_a_stale_copy_never_writes_an_old_host_key_back(
        open_store: Callable[[], Stores]) -> None:
    mine, theirs = open_store().spaces, open_store().spaces  # two origins, one database
    mine.save(record("k1", 1.0))
    stale = theirs.load("k1")
    assert stale is not None and stale.host_key_hash == "h" * 64
    assert mine.replace_key_hash("k1", "h" * 64, "n" * 64)  # rotated on one origin
    stale.peak_listeners = 40
    theirs.save(stale)  # the other saves its old copy (a peak): the new hash stays
    assert theirs.key_hash("k1") == "n" * 64
    now = mine.load("k1")
    assert now is not None and now.host_key_hash == "n" * 64 and now.peak_listeners == 40


def test_replacing_a_host_key_is_compare_and_set(open_store: Callable[[], Stores]) -> None:
    store = open_store().spaces
    store.save(record("k2", 1.0))
    assert store.replace_key_hash("k2", "h" * 64, "a" * 64)
    assert not store.replace_key_hash("k2", "h" * 64, "b" * 64)  # lost the race: unchanged
    assert store.key_hash("k2") == "a" * 64
    assert not store.replace_key_hash("nope", "h" * 64, "b" * 64)
    assert store.key_hash("nope") is None
