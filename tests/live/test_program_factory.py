"""A space's program is made once; one whose recording already holds published segments
(the origin restarted mid-space) continues after them: the next media sequence number, the
same decode time and init section. In-memory recording store: no sockets, no files."""

from __future__ import annotations

from tests.live.fakes import MemoryRecordings, live_space
from townhall.live.program.factory import ProgramFactory
from townhall.recording.manifest import RecordingManifest
from townhall.settings import Settings

SETTINGS = Settings()
INIT = b"\x00\x00\x00\x18ftypiso6"


def test_a_new_space_s_program_starts_at_the_first_segment_and_is_made_once() -> None:
    space = live_space()
    factory = ProgramFactory(SETTINGS, MemoryRecordings())
    program = factory.make(space)
    assert space.program is program and factory.make(space) is program
    assert program.packager.next_msn == 0 and program.recorder.manifest is None


def test_a_space_that_aired_before_a_restart_continues_after_what_it_published() -> None:
    space = live_space()
    recordings = MemoryRecordings()
    manifest = RecordingManifest.start("sp1", INIT)
    for msn in range(3):
        manifest.append(msn, b"segment %d" % msn, 2.0, 1000.0 + 2 * msn, False)
    recordings.manifests["sp1"], recordings.inits["sp1"] = manifest, INIT
    program = ProgramFactory(SETTINGS, recordings).make(space)
    assert program.packager.next_msn == 3
    assert program.packager._decode_time == round(6.0 * SETTINGS.media.sample_rate)
    assert program.recorder.manifest is manifest
    assert program.init == INIT and program.window.init == INIT

