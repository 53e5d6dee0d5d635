"""Host keys: a key counts only while it is the space's key now; a shared store's hash is
re-read after `key_check_ttl_s`, a stale copy counts for `key_stale_max_s` with the store
away; a rotation is a compare-and-set that cuts off the source and is announced. Frozen
clocks and an in-memory store: no sockets, no sleeps."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from tests.live.fakes import Clock, Heard, MemorySpaces, live_space, record
from townhall.live.errors import SpaceError
from townhall.live.registry.host_keys import KEY_ROTATED, HostKeys, KeyRotation
from townhall.live.registry.live_space import LiveSpace
from townhall.settings import Settings
from townhall.space.space_record import hash_key

SETTINGS = Settings.of(key_check_ttl_s=2.0, key_stale_max_s=30.0, store_retry_after_s=3)


def _space(key: str = "old") -> LiveSpace:
    return live_space(record(key=key))


def _keys(store: MemorySpaces, clock: Clock, *, shared: bool = True) -> HostKeys:
    return HostKeys(SETTINGS, store, shared=shared, clock=clock)


def _rotate_in_store(store: MemorySpaces, new: str) -> None:
    store.records["sp1"] = dataclasses.replace(store.records["sp1"], host_key_hash=hash_key(new))


def test_only_the_space_s_key_counts_and_no_key_never_does() -> None:
    space = _space("old")
    keys = _keys(MemorySpaces(space.record), Clock(), shared=False)
    assert keys.ok(space, "old")
    assert not keys.ok(space, "other")
    assert not keys.ok(space, None) and not keys.ok(space, "")


def test_a_shared_store_s_rotation_is_seen_once_the_ttl_has_passed() -> None:
    space, clock = _space("old"), Clock()
    store = MemorySpaces(space.record)
    keys = _keys(store, clock)
    assert keys.ok(space, "old")
    _rotate_in_store(store, "new")  # another origin rotated it
    clock.now += 1.9
    assert keys.ok(space, "old")  # the copy read 1.9 s ago still stands
    clock.now += 0.2
    assert not keys.ok(space, "old") and keys.ok(space, "new")


def test_a_store_nobody_else_writes_is_never_read_again() -> None:
    space, clock = _space("old"), Clock()
    store = MemorySpaces(space.record)
    store.down = True
    clock.now += 1000
    assert _keys(store, clock, shared=False).ok(space, "old")


def test_with_the_store_away_a_recent_copy_counts_then_503() -> None:
    space, clock = _space("old"), Clock()
    store = MemorySpaces(space.record)
    keys = _keys(store, clock)
    assert keys.ok(space, "old")
    store.down = True
    clock.now += 29.0
    assert keys.ok(space, "old")
    clock.now += 2.0
    with pytest.raises(SpaceError) as away:
        keys.ok(space, "old")
    assert away.value.status == 503 and away.value.retry_after == 3


def test_forgetting_the_hash_reads_it_at_once() -> None:
    space, clock = _space("old"), Clock()
    store = MemorySpaces(space.record)
    keys = _keys(store, clock)
    assert keys.ok(space, "old")
    _rotate_in_store(store, "new")
    keys.forget(space)
    assert keys.ok(space, "new")


def test_a_replace_against_a_stale_copy_loses_with_409() -> None:
    space, clock = _space("old"), Clock()
    store = MemorySpaces(space.record)
    keys = _keys(store, clock)
    _rotate_in_store(store, "theirs")
    with pytest.raises(SpaceError) as lost:
        asyncio.run(keys.replace(space))
    assert lost.value.status == 409 and lost.value.code == "key_changed"
    assert keys.ok(space, "theirs")  # the loser re-reads at once


class _Rotation:
    def __init__(self, space: LiveSpace) -> None:
        self.space = space
        self.store = MemorySpaces(space.record)
        self.keys = _keys(self.store, Clock())
        self.heard = Heard()
        self.cut: list[tuple[str, str]] = []
        self.ended: list[str] = []

        def cut_off(sp: LiveSpace, reason: str) -> bool:
            self.cut.append((sp.record.id, reason))
            return True

        async def end_session(sp: LiveSpace) -> None:
            self.ended.append(sp.record.id)

        known = {space.record.id: space}.get
        self.rotation = KeyRotation(self.keys, known, cut_off, self.heard,
                                    on_rotated=[end_session])


def test_a_rotation_stops_the_old_key_cuts_off_the_source_and_tells_the_others() -> None:
    r = _Rotation(_space("old"))
    new = asyncio.run(r.rotation.rotate(r.space))
    assert r.keys.ok(r.space, new) and not r.keys.ok(r.space, "old")
    assert r.store.records["sp1"].host_key_hash == hash_key(new)
    assert r.heard.said == [("host_key", "sp1")]
    assert r.cut == [("sp1", KEY_ROTATED)] and r.ended == ["sp1"]


def test_a_rotation_announced_by_another_origin_re_reads_and_cuts_off_here() -> None:
    r = _Rotation(_space("old"))
    assert r.keys.ok(r.space, "old")
    _rotate_in_store(r.store, "new")
    asyncio.run(r.rotation.rotated_elsewhere("sp1"))
    assert r.keys.ok(r.space, "new")  # read again at once, not after the TTL
    assert r.cut == [("sp1", KEY_ROTATED)] and r.ended == ["sp1"]
    assert r.heard.said == []  # news heard is not told again


def test_news_of_a_space_not_held_here_changes_nothing() -> None:
    r = _Rotation(_space("old"))
    asyncio.run(r.rotation.rotated_elsewhere("elsewhere"))
    assert r.cut == [] and r.ended == []
