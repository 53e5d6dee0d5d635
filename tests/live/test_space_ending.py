"""Ending a space: refused with 503 before anything stops while a store is away; else the
source stops, the speakers' sessions close, the program ends where the `ProgramHost` runs
it, and the record is saved ENDED; a second end is 409. In-memory stores: no sockets."""

from __future__ import annotations

import asyncio

import pytest

from tests.live.fakes import Clock, MemoryRecordings, MemorySpaces, record
from townhall.live.errors import SpaceError
from townhall.live.program.factory import ProgramFactory
from townhall.live.program.host import LocalPrograms
from townhall.live.registry.host_keys import HostKeys
from townhall.live.registry.live_space import LiveSpace
from townhall.live.registry.space_ending import SpaceEnding
from townhall.live.registry.spaces import Spaces
from townhall.settings import Settings
from townhall.space.lifecycle import Phase
from townhall.space.space_record import SpaceRecord
from townhall.store.base import StoreUnavailable

SETTINGS = Settings()


class _Programs(LocalPrograms):
    def __init__(self, factory: ProgramFactory) -> None:
        super().__init__(factory)
        self.ended: list[str] = []

    async def end_program(self, space: LiveSpace) -> None:
        self.ended.append(space.record.id)
        await super().end_program(space)


class _Origin:
    def __init__(self, *records: SpaceRecord) -> None:
        self.store = MemorySpaces(*records)
        self.recordings = MemoryRecordings()
        self.programs = _Programs(ProgramFactory(SETTINGS, self.recordings))
        self.spaces = Spaces(SETTINGS, self.store, self.recordings,
                             keys=HostKeys(SETTINGS, self.store, shared=False),
                             programs=self.programs)
        self.closed: list[str] = []

        async def close_stage(space: LiveSpace) -> None:
            self.closed.append(space.record.id)

        self.ending = SpaceEnding(self.spaces, self.programs, on_end=[close_stage],
                                  clock=Clock(2000.0))


def test_a_space_that_never_aired_ends_without_a_program_or_replay() -> None:
    o = _Origin(record("a", key="k"))
    space = asyncio.run(o.ending.end("a", "k"))
    assert space.record.phase is Phase.ENDED and space.record.ended_at == 2000.0
    assert not space.record.has_replay and space.program is None and o.programs.ended == []
    assert o.closed == ["a"] and o.store.records["a"].phase is Phase.ENDED


def test_a_live_space_s_program_ends_where_it_runs() -> None:
    o = _Origin(record("a", key="k"))

    async def run() -> LiveSpace:
        space = o.spaces.get("a")
        o.spaces.go_live(space, "src")
        return await o.ending.finish(space)

    space = asyncio.run(run())
    assert o.programs.ended == ["a"] and space.program is not None and space.program.ended
    assert space.record.phase is Phase.ENDED


def test_with_the_store_away_nothing_stops_and_the_end_is_refused() -> None:
    o = _Origin(record("a", key="k"))
    o.recordings.down = True
    with pytest.raises(StoreUnavailable):  # answered 503 by web.errors
        asyncio.run(o.ending.finish(o.spaces.get("a")))
    assert o.closed == [] and o.spaces.get("a").record.phase is Phase.SCHEDULED


def test_ending_twice_is_409_and_a_wrong_key_401() -> None:
    o = _Origin(record("a", key="k"))
    with pytest.raises(SpaceError) as wrong:
        asyncio.run(o.ending.end("a", "nope"))
    assert wrong.value.status == 401
    asyncio.run(o.ending.end("a", "k"))
    with pytest.raises(SpaceError) as again:
        asyncio.run(o.ending.end("a", "k"))
    assert again.value.status == 409 and again.value.code == "already_ended"
