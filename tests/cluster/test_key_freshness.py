"""An origin never trusts its copy of a host key hash for longer than `key_check_ttl_s`, even
when no announcement reached it (Redis away); with the store away it keeps a recent copy for
`key_stale_max_s` unless told the key changed, then refuses with 503. Two registries on one
SQLite file stand for two origins."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from townhall.live.errors import SpaceError
from townhall.live.program.factory import ProgramFactory
from townhall.live.program.host import LocalPrograms
from townhall.live.registry.host_keys import HostKeys, KeyRotation
from townhall.live.registry.spaces import Spaces
from townhall.settings import Settings
from townhall.store.base import StoreUnavailable
from townhall.store.factory import open_stores


class Flaky:
    """The store, or (when `down`) a store that cannot be reached."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.down = False

    def __getattr__(self, name: str) -> Any:
        if self.down:
            raise StoreUnavailable("down")
        return getattr(self.store, name)


class Origin:
    """One origin's registry, host keys and rotation, as `web.app` composes them."""

    def __init__(self, settings: Settings, store: Any, recordings: Any) -> None:
        self.keys = HostKeys(settings, store, shared=True)
        self.spaces = Spaces(settings, store, recordings, keys=self.keys,
                             programs=LocalPrograms(ProgramFactory(settings, recordings)))
        self.rotation = KeyRotation(self.keys, self.spaces.known, lambda _s, _r: False,
                                    lambda _t, _i: None)
        self.create, self.get = self.spaces.create, self.spaces.get
        self.key_ok, self.rotate_key = self.keys.ok, self.rotation.rotate
        self.key_rotated_elsewhere = self.rotation.rotated_elsewhere


def _origin(tmp_path: Path, name: str, **more: Any) -> tuple[Origin, Flaky]:
    settings = Settings.of(data_dir=tmp_path / name, database=tmp_path / "shared.sqlite3",
                        redis_url="redis://127.0.0.1:1/0", key_check_ttl_s=0.3,
                        migrate_on_start=True, **more)
    stores = open_stores(settings)
    flaky = Flaky(stores.spaces)
    return Origin(settings, flaky, stores.recordings), flaky


def test_a_rotation_nobody_announced_is_seen_within_the_ttl(tmp_path: Path) -> None:
    a, _ = _origin(tmp_path, "a")
    space_a, old = asyncio.run(a.create("t", "h", None, None))
    b, _ = _origin(tmp_path, "b")
    space_b = b.get(space_a.record.id)
    assert b.key_ok(space_b, old)  # read from the store, cached
    new = asyncio.run(a.rotate_key(space_a))  # no Redis: nobody hears of it
    start = time.monotonic()
    while b.key_ok(space_b, old):
        assert time.monotonic() - start < 0.3 + 0.5
        time.sleep(0.02)
    assert b.key_ok(space_b, new)


def test_with_the_store_away_a_recent_hash_counts_unless_it_was_announced_changed(
        tmp_path: Path) -> None:
    a, _ = _origin(tmp_path, "a")
    space_a, key = asyncio.run(a.create("t", "h", None, None))
    b, store_b = _origin(tmp_path, "b")
    space_b = b.get(space_a.record.id)
    assert b.key_ok(space_b, key)
    store_b.down = True
    time.sleep(0.35)  # past the TTL: the re-read fails, the recent copy still counts
    assert b.key_ok(space_b, key)
    asyncio.run(b.key_rotated_elsewhere(space_b.record.id))  # the news came, the store is away
    with pytest.raises(SpaceError) as refused:
        b.key_ok(space_b, key)
    assert refused.value.status == 503 and refused.value.retry_after
    store_b.down = False
    assert b.key_ok(space_b, key)  # the store answers: the key is unchanged after all


def test_two_rotations_at_once_on_two_origins_one_wins(tmp_path: Path) -> None:
    a, _ = _origin(tmp_path, "a")
    space_a, key = asyncio.run(a.create("t", "h", None, None))
    b, _ = _origin(tmp_path, "b")
    space_b = b.get(space_a.record.id)
    assert b.key_ok(space_b, key)
    won = asyncio.run(a.rotate_key(space_a))
    with pytest.raises(SpaceError) as lost:  # b's copy is stale: its rotation loses
        asyncio.run(b.rotate_key(space_b))
    assert lost.value.status == 409 and lost.value.code == "key_changed"
    assert b.key_ok(space_b, won) and not b.key_ok(space_b, key)
