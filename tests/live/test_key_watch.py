"""Another origin's news reaches the right object here: a rotated key to the key rotation,
a newer source and a counted takeover to the push sources, a revoked seat to the
admissions (only for a space that exists). In-memory stores: no sockets."""

from __future__ import annotations

import asyncio
from typing import cast

from tests.live.fakes import Heard, MemoryRecordings, MemorySpaces, record
from townhall.cluster.base import Cluster
from townhall.cluster.solo import SoloCluster
from townhall.live.cluster_sync.key_watch import KeyWatch
from townhall.live.joins.admissions import Admissions
from townhall.live.program.factory import ProgramFactory
from townhall.live.program.host import LocalPrograms
from townhall.live.registry.host_keys import KEY_ROTATED, HostKeys, KeyRotation
from townhall.live.registry.live_space import LiveSpace
from townhall.live.registry.spaces import Spaces
from townhall.live.sources.push_sources import PushSources
from townhall.settings import Settings

SETTINGS = Settings()


class _Origin:
    def __init__(self) -> None:
        store, recordings = MemorySpaces(record("a", key="k")), MemoryRecordings()
        self.keys = HostKeys(SETTINGS, store, shared=True)
        self.spaces = Spaces(SETTINGS, store, recordings, keys=self.keys,
                             programs=LocalPrograms(ProgramFactory(SETTINGS, recordings)))
        self.admissions = Admissions(SETTINGS, self.spaces)
        self.sources = PushSources(self.spaces, Heard())
        self.cut: list[tuple[str, str]] = []

        def cut_off(space: LiveSpace, reason: str) -> bool:
            self.cut.append((space.record.id, reason))
            return self.sources.cut_off(space, reason)

        self.rotation = KeyRotation(self.keys, self.spaces.known, cut_off, Heard())
        self.watch = KeyWatch(self.spaces, cast(Cluster, SoloCluster()), self.admissions,
                              self.rotation, self.sources)


def test_each_topic_reaches_the_object_that_owns_it() -> None:
    o = _Origin()
    space = o.spaces.get("a")

    async def run() -> None:
        assert o.keys.ok(space, "k")  # read now: cached for the TTL
        await o.watch.heard_news("host_key", "a")
        assert o.cut == [("a", KEY_ROTATED)] and space.key_read == float("-inf")
        await o.watch.heard_news("takeover", "a")
        assert space.takeovers == 1
        await o.watch.heard_news("source", "a")  # no source here: nothing to cut off
        assert space.takeovers == 1
        await o.watch.heard_news("seat", "nowhere/seat-1")
        await o.watch.heard_news("seat", "a/seat-1")
        assert "seat-1" in o.admissions.revoked.get("a", set())

    asyncio.run(run())
    assert o.watch.heard == 5
