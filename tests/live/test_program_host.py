"""Where programs run: alone, every program is made and ended here; in a cluster
(`ProgramLeases`) a program made here is adopted once, as a standby following the part
stream until this origin holds the lease. Both are the same `ProgramHost` to the registry.
In-memory stores and the cluster of one: no sockets."""

from __future__ import annotations

import asyncio

from tests.live.fakes import MemoryRecordings, live_space
from townhall.cluster.solo import SoloCluster
from townhall.live.program.factory import ProgramFactory
from townhall.live.program.host import LocalPrograms, ProgramHost
from townhall.live.program.leases import ProgramLeases
from townhall.settings import Settings

SETTINGS = Settings()


def test_alone_a_space_s_program_is_made_once_and_ends_here() -> None:
    programs: ProgramHost = LocalPrograms(ProgramFactory(SETTINGS, MemoryRecordings()))
    space = live_space()

    async def run() -> None:
        program = programs.program_for(space)
        assert programs.program_for(space) is program and not program.following
        await programs.end_program(space)
        assert program.ended

    asyncio.run(run())
    assert not programs.clustered


def test_in_a_cluster_a_program_made_here_is_adopted_once_as_a_standby() -> None:
    async def run() -> None:
        leases = ProgramLeases(SETTINGS, SoloCluster("o1"),
                               ProgramFactory(SETTINGS, MemoryRecordings()))
        programs: ProgramHost = leases
        space = live_space()
        program = programs.program_for(space)
        assert program.following  # a standby until this origin holds the lease
        assert programs.program_for(space) is program
        assert list(leases._tasks) == ["sp1"]  # one lease loop per space
        assert programs.clustered
        await leases.close()

    asyncio.run(run())
