"""Makes a space's program, continuing the recording a crash or restart left behind.

Service helper. A program is made the first time a space needs one (a source goes live, a
standby follows it, an ended space's recording is sealed). If the recording store already
holds published segments of the space, the new program continues after them: the next
media sequence number, the same decode time and init section, the same hash-chained
manifest (so the replay stays the live bytes across a restart). Blocking: it reads the
recording store; control path only, never on the listener path.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from townhall.live.descriptors import DescriptorReserve
from townhall.live.program.program import Program
from townhall.live.registry.live_space import LiveSpace
from townhall.recording.recorder import Recorder, recover
from townhall.recording.signing import SigningIdentity
from townhall.settings import Settings
from townhall.store.base import RecordingStore


class ProgramFactory:
    def __init__(self, settings: Settings, recordings: RecordingStore,
                 identity: SigningIdentity | None = None,
                 reserve: DescriptorReserve | None = None,
                 talkback: Callable[[LiveSpace, Program], None] | None = None) -> None:
        self.settings = settings
        # after every mixed frame of a space's program: its speakers' mix-minus
        # (live.stage.space_speakers.mix_minus), given by whoever builds the services
        self.talkback = talkback
        self.recordings = recordings
        self.identity = identity  # signs the recording's checkpoints and manifest
        self.reserve = reserve  # descriptors kept for the recorders, borrowed when full

    def make(self, space: LiveSpace) -> Program:
        """The space's program: the one it has, else a new one (recovered if it aired)."""
        if space.program is not None:
            return space.program
        s = self.settings
        sid = space.record.id
        reserve = self.reserve
        recorder = Recorder(self.recordings, sid, s.recording.secret, identity=self.identity,
                            checkpoint_every=s.recording.checkpoint_every_segments,
                            reserve=reserve.borrow if reserve is not None else None,
                            finish_timeout_s=s.recording.recording_finish_timeout_s)
        manifest = recover(self.recordings, sid)
        first_msn, decode_time = 0, 0
        if manifest is not None and manifest.segments:
            # this origin restarted mid-space: continue after what was already published
            recorder.manifest = manifest
            first_msn = manifest.segments[-1].msn + 1
            decode_time = round(manifest.duration * s.media.sample_rate)
        talkback = self.talkback
        program = Program(s, recorder, first_msn=first_msn, first_decode_time=decode_time,
                          resumed=first_msn > 0,
                          on_frame=partial(talkback, space) if talkback is not None else None)
        init = self.recordings.init(sid) if manifest is not None else None
        if manifest is not None and manifest.segments and init is not None:
            program.init = init
            program.window.init = init
        space.program = program
        return program
