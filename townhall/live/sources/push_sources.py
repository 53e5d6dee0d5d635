"""Push sources (ffmpeg, OBS, an encoder over Icecast or HTTP PUT): one on air per space.

Service. Opens a source's session for a space once its host key checks out and the hosting
quotas admit it; a newer source with the key takes over only once it sends audio that
decodes, so a malformed head or a silent socket cannot kick the host off. A takeover is
counted (the host view shows it) and announced, so every origin counts it and the older
source on another origin is cut off. Sums the audio sources lost as they leave. Control path
and the source's own connection only: never on the listener path.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from townhall.live.cluster_sync.news import Announce
from townhall.live.errors import SpaceError
from townhall.live.registry.live_space import LiveSpace
from townhall.live.registry.spaces import Spaces
from townhall.live.sources.session import IngestSession
from townhall.space.lifecycle import Phase
from townhall.store.base import StoreUnavailable

TAKEN_OVER = "taken_over"  # IngestSession.ended_by: a newer source with the key replaced it


def cut_off(space: LiveSpace, reason: str) -> bool:
    """Stop the space's source on air with `reason` (the key was rotated, a newer one came,
    it sent no audio in time); True if there was one."""
    session = space.ingest
    if session is None or session.closed:
        return False
    session.ended_by = reason
    session.stop()
    return True


class PushSources:
    def __init__(self, spaces: Spaces, announce: Announce,
                 admit: Callable[[LiveSpace], None] | None = None,
                 admit_audio: Callable[[LiveSpace], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.spaces = spaces
        self.settings = spaces.settings
        self.announce = announce
        # asked before a source is attached to a space (hosting quotas); raises SpaceError
        self.admit = admit
        # a source's first audio decoded: may it take a program slot? (SpaceError if not)
        self.admit_audio = admit_audio
        self.clock = clock
        # audio not heard as sent, summed over the sources that left (seconds)
        self.losses: dict[str, float] = {"seconds_dropped": 0.0, "seconds_skipped": 0.0,
                                         "seconds_caught_up": 0.0}

    def open(self, space_id: str, key: str | None) -> IngestSession:
        """A session for a source that connected with the space's host key."""
        space = self.spaces.authorize(space_id, key)
        if space.record.phase is Phase.ENDED:
            raise SpaceError(409, "space_ended", "the space has ended; create a new one")
        if space.program is None:
            # its program starts from what the store holds (a space resumed after a crash
            # continues its recording): while the store is unreachable, the source retries
            try:
                self.spaces.recordings.ping()
            except StoreUnavailable:
                raise SpaceError(503, "store_unavailable", "the database is unreachable for "
                                 "a moment; reconnect in a few seconds") from None
        if self.admit is not None:  # hosting quotas, on every origin (cluster too)
            self.admit(space)
        space.ingest_seq += 1
        session = IngestSession(f"{space_id}-push-{space.ingest_seq}", self.settings,
                                on_audio_start=lambda s: self._started(space, s),
                                on_pcm=lambda s, pcm: self._pcm(space, s, pcm),
                                on_end=lambda s: self._ended(space, s))
        if space.ingest is None or space.ingest.closed:
            space.ingest = session
        # else a newer connection with the key: it takes over only once it sends audio that
        # decodes (_started)
        return session

    def cut_off(self, space: LiveSpace, reason: str) -> bool:
        """Stop the source on air (the key was rotated, a newer one came); True if there was
        one."""
        return cut_off(space, reason)

    # --- takeovers ---
    def newer_source_elsewhere(self, space_id: str) -> None:
        """A newer source with the key went on air on another origin: the one here goes."""
        space = self.spaces.known(space_id)
        session = space.ingest if space is not None else None
        if session is None or not session.started:
            return  # none here, or one not yet sending audio: that one is newer still
        if space is not None and self.cut_off(space, TAKEN_OVER):
            self.count_takeover(space)

    def count_takeover(self, space: LiveSpace, *, tell_others: bool = True) -> None:
        """A newer source replaced the one on air (here, or told by another origin): the
        host view's count, the same on every origin."""
        space.takeovers += 1
        space.last_takeover = self.clock()
        if tell_others:
            self.announce("takeover", space.record.id)

    def takeover_counted_elsewhere(self, space_id: str) -> None:
        """Another origin counted a takeover of the space's source: count it here too."""
        space = self.spaces.known(space_id)
        if space is not None:
            self.count_takeover(space, tell_others=False)

    # --- the session's callbacks ---
    def _started(self, space: LiveSpace, session: IngestSession) -> None:
        if session.closed:
            return
        if self.admit_audio is not None:  # program slots are paid with audio (live.hosting)
            try:
                self.admit_audio(space)
            except SpaceError as exc:
                session.ended_by = exc.code
                session.stop()
                return
        old = space.ingest
        if old is not session:  # the newer source sends valid audio: now it takes over
            if old is not None and not old.closed:
                old.ended_by = TAKEN_OVER
                old.stop()
                self.count_takeover(space)
            space.ingest = session
        self.announce("source", space.record.id)  # one on another origin is older: it goes
        s = self.settings
        ms = s.media.sample_rate // 1000
        # a push source is paced: it waits, it is never trimmed
        high = s.ingest.ingest_buffer_ms * ms
        program = self.spaces.go_live(space, session.name, s.media.jitter_prebuffer_ms * ms,
                                      high + s.ingest.ingest_overshoot_ms * ms, high)
        if program is not None:
            buffer = program.mixer.sources[session.name].buffer
            session.level = lambda: buffer.buffered
            session.buffer = buffer

    @staticmethod
    def _pcm(space: LiveSpace, session: IngestSession, pcm: npt.NDArray[np.float32]) -> None:
        if space.program is not None and space.ingest is session:
            space.program.write(session.name, pcm)

    def _ended(self, space: LiveSpace, session: IngestSession) -> None:
        for name, value in session.losses().items():
            self.losses[name] = round(self.losses[name] + value, 3)
        if space.ingest is session:
            space.ingest = None
        if space.program is not None and session.started:
            space.program.detach(session.name)

    def metrics(self) -> dict[str, float]:
        """Audio of push sources dropped (counted, logged), skipped in quiet moments, or cut a
        pitch period at a time to catch up (`seconds_caught_up`), in seconds, all time."""
        totals = dict(self.losses)
        for space in self.spaces.all():
            if space.ingest is not None:
                for name, value in space.ingest.losses().items():
                    totals[name] = round(totals[name] + value, 3)
        return totals
