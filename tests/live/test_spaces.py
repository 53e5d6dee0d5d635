"""The registry: finds spaces by id, and only in a cluster asks the shared store for one
another origin made (a made-up id costs one query a second); other origins' records only
move a space forward; going live makes the program where the `ProgramHost` says. In-memory
stores and a frozen clock: no sockets."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from tests.live.fakes import Clock, MemoryRecordings, MemorySpaces, record
from townhall.live.errors import SpaceError
from townhall.live.program.factory import ProgramFactory
from townhall.live.program.host import LocalPrograms
from townhall.live.program.program import Program
from townhall.live.registry.host_keys import HostKeys
from townhall.live.registry.live_space import LiveSpace
from townhall.live.registry.spaces import Spaces
from townhall.settings import Settings
from townhall.space.lifecycle import Phase

SETTINGS = Settings()


class _ClusterPrograms(LocalPrograms):
    """A `ProgramHost` of a cluster, as far as the registry can tell."""

    clustered = True


def _spaces(store: MemorySpaces, *, clustered: bool = False,
            clock: Clock | None = None) -> Spaces:
    recordings = MemoryRecordings()
    factory = ProgramFactory(SETTINGS, recordings)
    programs = _ClusterPrograms(factory) if clustered else LocalPrograms(factory)
    return Spaces(SETTINGS, store, recordings,
                  keys=HostKeys(SETTINGS, store, shared=clustered),
                  programs=programs, clock=clock or Clock())


def test_the_store_s_spaces_are_known_at_start_and_found_by_id() -> None:
    spaces = _spaces(MemorySpaces(record("a"), record("b")))
    assert {sp.record.id for sp in spaces.all()} == {"a", "b"}
    assert spaces.get("a").record.id == "a"
    with pytest.raises(SpaceError) as missing:
        spaces.get("zz")
    assert missing.value.status == 404


def test_alone_a_space_not_held_here_is_never_asked_of_the_store() -> None:
    store = MemorySpaces()
    spaces = _spaces(store)
    store.records["late"] = record("late")
    assert spaces.find("late") is None and store.loads == 0


def test_in_a_cluster_another_origin_s_space_is_loaded_and_a_made_up_id_asked_once_a_second(
        ) -> None:
    store, clock = MemorySpaces(), Clock()
    spaces = _spaces(store, clustered=True, clock=clock)
    store.records["late"] = record("late")
    found = spaces.find("late")
    assert found is not None and spaces.known("late") is found
    assert spaces.find("nope") is None and spaces.find("nope") is None
    assert store.loads == 2  # "late" once, "nope" once
    clock.now += 1.0
    assert spaces.find("nope") is None and store.loads == 3


def test_other_origins_records_only_move_a_space_forward() -> None:
    spaces = _spaces(MemorySpaces(record("a", phase=Phase.LIVE, peak_listeners=5)))
    spaces.refresh([record("a", phase=Phase.SCHEDULED, peak_listeners=9), record("new")])
    a = spaces.get("a").record
    assert a.phase is Phase.LIVE and a.peak_listeners == 9
    assert spaces.known("new") is not None
    spaces.refresh([record("a", phase=Phase.ENDED, ended_at=5.0, has_replay=True)])
    assert (a.phase, a.has_replay, a.ended_at) == (Phase.ENDED, True, 5.0)


def test_a_recheck_reads_the_record_at_most_once_a_second_and_only_in_a_cluster() -> None:
    store, clock = MemorySpaces(record("a")), Clock()
    alone = _spaces(store, clock=clock)
    alone.recheck(alone.get("a"))
    assert store.loads == 0
    spaces = _spaces(store, clustered=True, clock=clock)
    space = spaces.get("a")
    store.records["a"] = dataclasses.replace(record("a"), phase=Phase.ENDED)
    spaces.recheck(space)
    spaces.recheck(space)
    assert store.loads == 1 and space.record.phase is Phase.ENDED


def test_authorize_refuses_a_wrong_key_with_401() -> None:
    spaces = _spaces(MemorySpaces(record("a", key="right")))
    assert spaces.authorize("a", "right").record.id == "a"
    with pytest.raises(SpaceError) as refused:
        spaces.authorize("a", "wrong")
    assert refused.value.status == 401


def test_going_live_makes_the_program_mixes_the_source_and_saves_soon() -> None:
    async def run() -> tuple[LiveSpace, Program | None, list[str]]:
        store = MemorySpaces()
        spaces = _spaces(store)
        space, _key = await spaces.create("t", "h", None, None)
        store.saved.clear()
        program = spaces.go_live(space, "src")
        await spaces.saver.write()
        saved = list(store.saved)
        await spaces.close()  # the program suspends
        return space, program, saved

    space, program, saved = asyncio.run(run())
    assert program is space.program and program is not None and "src" in program.mixer.sources
    assert space.record.phase is Phase.LIVE and space.record.actual_start is not None
    assert saved == [space.record.id]


def test_an_ended_space_never_goes_live_again() -> None:
    spaces = _spaces(MemorySpaces(record("a", phase=Phase.ENDED)))
    assert spaces.go_live(spaces.get("a"), "src") is None and spaces.get("a").program is None
