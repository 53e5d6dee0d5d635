"""Where a space's program runs: here alone, or on the origin holding its lease.

Service interface. The registry and its collaborators ask the `ProgramHost` for a space's
program and to end it, and never ask which kind they hold. `LocalPrograms` is the one-process
implementation (every program runs here); `live.program.leases.ProgramLeases` is the
cluster's (a program made here is a standby until this origin holds its lease, and ending
asks the holder). Which one a process gets is decided once, where the app is composed
(`web.app.create_app`).
"""

from __future__ import annotations

from typing import Protocol

from townhall.live.program.factory import ProgramFactory
from townhall.live.program.program import Program
from townhall.live.registry.live_space import LiveSpace


class ProgramHost(Protocol):
    # several origins share the store and run the programs: a space, its record or its
    # seats may have changed on another origin since this one read them
    clustered: bool

    def program_for(self, space: LiveSpace) -> Program:
        """The space's program, made here if it has none (in a cluster: a standby)."""

    async def end_program(self, space: LiveSpace) -> None:
        """End the space's program (in a cluster: where it runs)."""


class LocalPrograms:
    """One process: every program is made, runs and ends here."""

    clustered = False

    def __init__(self, factory: ProgramFactory) -> None:
        self.factory = factory

    def program_for(self, space: LiveSpace) -> Program:
        return self.factory.make(space)

    async def end_program(self, space: LiveSpace) -> None:
        assert space.program is not None
        await space.program.end()
