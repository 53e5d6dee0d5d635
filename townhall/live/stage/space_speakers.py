"""One space's speakers: its stage (roles core), its live WebRTC sessions, and the
mix-minus each session hears (everyone but itself), derived from the frame the program clock
just mixed. State and pure work on it: the WHIP sessions are started and ended by
`live.stage.speakers.Speakers`, the seats changed by `live.stage.stage_seats.StageSeats`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from aiortc import RTCPeerConnection

from townhall.live.stage.rtc import MixMinusTrack
from townhall.settings import Settings
from townhall.space.roles import Seat, SeatState, Stage

if TYPE_CHECKING:
    from townhall.live.program.program import Program
    from townhall.live.registry.live_space import LiveSpace

log = logging.getLogger("townhall.speakers")


@dataclass
class SpeakerSession:
    id: str
    seat_id: str
    source: str  # the program mixer source
    bearer_hash: str  # who may DELETE it: whoever published it
    pc: RTCPeerConnection
    outgoing: MixMinusTrack
    created: float  # monotonic
    last_audio: float | None = None
    attached: bool = False
    closed: bool = False
    consumer: asyncio.Task[None] | None = None
    last_loud: float = -1e9
    frames_in: int = 0
    unheard_since: float | None = None  # attached to a standby program (cluster) since
    # set by the hosting quotas (a provisional session evicted, live.registry.hosting): the
    # watchdog ends the session with this reason within WATCH_EVERY_S
    cut_off: str | None = None
    slot: int = -1  # its place in the WHIP session pool (Speakers.pool)

    @property
    def heard(self) -> bool:
        """Audio arrived and was admitted: only then does the session hold a program slot."""
        return self.last_audio is not None


ENDED_REMEMBERED = 64  # ended WHIP sessions per space whose DELETE still answers 200


@dataclass
class SpaceSpeakers:
    """One space's stage and live sessions."""

    space: LiveSpace
    stage: Stage
    speaking_hold_s: float
    sessions: dict[str, SpeakerSession] = field(default_factory=dict)
    seq: int = 0
    # sessions that ended lately (id -> publisher's bearer hash): a DELETE that races the end
    # (the client closed its peer connection first) still succeeds, RFC 9725 §4.2
    ended: dict[str, str] = field(default_factory=dict)

    @property
    def heard(self) -> bool:
        """Some session's audio has arrived (and was admitted): the stage holds a slot."""
        return any(s.heard and not s.closed for s in self.sessions.values())

    @property
    def waiting(self) -> list[SpeakerSession]:
        """Sessions open without audio yet: provisional, they hold no program slot."""
        return [s for s in self.sessions.values() if not s.heard and not s.closed]

    def session_of(self, seat_id: str) -> SpeakerSession | None:
        return next((s for s in self.sessions.values() if s.seat_id == seat_id), None)

    def speaking(self, seat: Seat, now: float) -> bool:
        session = self.session_of(seat.id)
        return (session is not None and not seat.muted and session.attached
                and now - session.last_loud < self.speaking_hold_s)

    def seat_doc(self, seat: Seat, now: float) -> dict[str, Any]:
        return {"id": seat.id, "name": seat.name, "role": seat.role.value,
                "state": seat.state.value, "muted": seat.muted,
                "speaking": self.speaking(seat, now)}

    def status(self) -> dict[str, Any]:
        """The stage part of a space's details: who is live, muted, speaking now."""
        now = time.monotonic()
        live = [self.seat_doc(seat, now) for seat in self.stage.live]
        hands = sum(1 for s in self.stage.seats.values() if s.state is SeatState.RAISED)
        return {"speaker_cap": self.stage.cap, "speakers": live,
                "speaking": [d["id"] for d in live if d["speaking"]], "raised_hands": hands}

    def on_frame(self, program: Program, threshold_dbfs: float) -> None:
        """Mix-minus for every live speaker from the frame the program clock just pulled."""
        contributions = program.mixer.contributions
        total = np.zeros(0, np.float32)
        for block in contributions.values():
            total = block.copy() if len(total) == 0 else total + block
        now = time.monotonic()
        for session in list(self.sessions.values()):
            state = program.mixer.sources.get(session.source)
            if state is not None and state.level_dbfs > threshold_dbfs:
                session.last_loud = now
            if len(total):
                own = contributions.get(session.source)
                out = total - own if own is not None else total
                session.outgoing.push(np.clip(out, -1.0, 1.0))



def mix_minus(threshold_dbfs: float) -> Callable[[LiveSpace, Program], None]:
    """The program factory's talk-back (`ProgramFactory(talkback=...)`): after every frame a
    space's program mixes, each of its speakers' sessions gets everyone but itself. A space
    without sessions costs a lookup; a failure is logged and never stops the program clock."""
    def talkback(space: LiveSpace, program: Program) -> None:
        room = space.speakers
        if room is None or not room.sessions:
            return
        try:
            room.on_frame(program, threshold_dbfs)
        except Exception:  # talk-back failing must never stop the program clock
            log.exception("mix-minus for %s", space.record.id)
    return talkback


def stage_status(space: LiveSpace, settings: Settings) -> dict[str, Any]:
    """The stage part of a space's details: in a cluster, as the origin running the space's
    program posted it (live.shared_stage) while that is fresh; else this origin's own."""
    shared = space.shared_stage
    if shared is not None and time.monotonic() - shared[0] < settings.stage.stage_share_ttl_s:
        return shared[1]
    if space.speakers is None:
        return {"speaker_cap": settings.stage.speaker_cap, "speakers": [], "speaking": [],
                "raised_hands": 0}
    return space.speakers.status()
