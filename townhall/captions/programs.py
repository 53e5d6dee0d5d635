"""The program factory of an origin that captions: every program it makes gets the tap.

Service helper. Wraps `live.program.factory.ProgramFactory` so that the registry, the leases
and their standbys make programs exactly as before; a new program's mixed audio is offered
to the captioner (`Program.pcm_tap`) and its live window followed for subtitle segments.
Whether a space is captioned is asked per frame (`Captioner.wants`), so a host's switch or a
recogniser that comes and goes changes nothing here.
"""

from __future__ import annotations

from townhall.captions.captioner import Captioner
from townhall.live.program.factory import ProgramFactory
from townhall.live.program.program import Program
from townhall.live.registry.live_space import LiveSpace


class CaptionedFactory(ProgramFactory):
    def __init__(self, factory: ProgramFactory, captioner: Captioner) -> None:
        super().__init__(factory.settings, factory.recordings, factory.identity, factory.reserve,
                         factory.talkback)
        self.captioner = captioner

    def make(self, space: LiveSpace) -> Program:
        had = space.program
        program = super().make(space)
        if program is not had:
            program.pcm_tap = self.captioner.follow(space.record, program.window,
                                                    lambda: program.following)
        return program
