"""Speakers on stage: WHIP sessions (aiortc) feeding the program, mix-minus back to each.

Service. For every space it keeps the stage (roles core), the WebRTC sessions of the speakers
who are live, and the mix-minus tracks that carry everyone but themselves back to them. Audio
in: aiortc decodes Opus, we turn each frame into 48 kHz mono float32 and write it into the
program mixer as one source per session (a shallow jitter buffer: talk-back must stay within
tens of milliseconds). Audio out: the program clock calls `on_frame` with every mixed frame;
each speaker's track gets the sum of the other sources' contributions to that frame.

A session leaves the mix when it is deleted, when its speaker is removed, when ICE/DTLS fail or
close, or when no audio has arrived for `speaker_drop_timeout_s` (a dropped network sends
nothing at all); the watchdog checks four times a second, so a drop is out within 2 s. The seat
goes back to "invited": the same link rejoins. Seat changes are written through to the store
(one small SQLite write per stage action), so the stage outlives a restart; aiortc decodes and
encodes in threads.

In a cluster (several origins, one store, Redis leases), a speaker is heard only on the origin
that runs the space's program. The design is "the program follows its sources": the edge
sends every WHIP offer of a space to one origin (a consistent hash of the space), a session
that lands on an origin whose program is a standby makes that origin want the program
(`Program.on_source`: the holder hands it over, or a dead holder's lease lapses and this
origin takes it), so the sources of a space meet on one origin with their mix-minus. Nothing
forwards audio between origins. The seat's credential works on any origin: speaker tokens are
HMACs of the deployment's shared secret and the seats are in the shared store, read again
before each publish (another origin may have removed, muted, or had the seat live until it
died). A session that stays attached to a standby for `source_unheard_s` (the program did not
come: another origin keeps it, e.g. a second source elsewhere took it) is never left unheard:
it is ended, logged and counted (`townhall_sources_moved_total`), and the page publishes again
through the edge (whip.js reconnects by itself), to the origin that runs the program.

WHIP sessions are a pool of their own, with a per-network share (`admission.network_pool`,
`whip_max_sessions`, `whip_sessions_per_network`): the WHIP edge takes a slot for the
caller's address once its token is known and before the offer is read (`take_slot`); a
session holds it until it ends and is provisional until its first audio decodes. A network
past its share, or a full pool, ends the oldest session without audio (of that network, or of
the network holding the most) for the newcomer, or the newcomer is refused (429
network_share, 503 whip_full, with Retry-After): counted, logged, exported. The last
`whip_operator_reserved` slots are the operator's (`operator_offer`): an offer for a space the
operator's admin key created (`is_operator`, from live.registry.hosting: the same owner test
that gives the operator its reserved program slots), by its host key or a speaker or co-host
seat its host invited or approved (never a raised hand), one slot per seat at a time. Such
an offer has no network share and, at a full pool, ends a session without audio that is not
the operator's before it is refused; nobody else takes a reserved slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import av
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

from townhall.admission.network_pool import NetworkPool, network_of
from townhall.live import tasks
from townhall.live.errors import SpaceError
from townhall.live.stage.rtc import (
    RATE,
    MixMinusTrack,
    Pcm,
    restrict_host_addresses,
    shallow_receive_buffer,
    to_mono,
)
from townhall.ops import metrics
from townhall.settings import Settings
from townhall.space.lifecycle import Phase
from townhall.space.roles import (
    Action,
    Problem,
    Role,
    Seat,
    SeatState,
    SpeakerTokens,
    Stage,
    StageError,
    is_speaker_token,
)
from townhall.store.base import StoreUnavailable

if TYPE_CHECKING:
    from townhall.live.program.program import Program
    from townhall.live.registry.live_space import LiveSpace
    from townhall.live.registry.spaces import Spaces

log = logging.getLogger("townhall.speakers")
WATCH_EVERY_S = 0.25
PROBLEM_STATUS = {Problem.UNAUTHORIZED: 401, Problem.FORBIDDEN: 403, Problem.NOT_FOUND: 404,
                  Problem.CONFLICT: 409, Problem.INVALID: 422}


def space_error(exc: StageError) -> SpaceError:
    return SpaceError(PROBLEM_STATUS[exc.problem], exc.code, exc.detail)


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


class Speakers:
    """Process-wide: every space's speakers, the WHIP sessions and the drop watchdog."""

    def __init__(self, settings: Settings, spaces: Spaces,
                 admit: Callable[[LiveSpace], None] | None = None,
                 admit_audio: Callable[[LiveSpace], None] | None = None,
                 is_operator: Callable[[LiveSpace], bool] | None = None) -> None:
        self.settings = settings
        self.candidates_dropped = 0  # remote ICE candidates screened out of offers
        self.sessions_moved = 0  # ended: heard nowhere, the program ran on another origin
        self.spaces = spaces
        self.admit = admit  # hosting quotas: one more space on air? (raises SpaceError)
        # a session's first audio arrived: may it take a program slot? (SpaceError if not)
        self.admit_audio = admit_audio
        self.refused_audio = 0  # sessions ended at their first audio: no program slot free
        # WHIP sessions held at once, with a per-network share (issue 18)
        self.pool = NetworkPool(settings.stage.whip_max_sessions,
                                settings.stage.whip_sessions_per_network,
                                settings.stage.whip_operator_reserved)
        self._slots: dict[int, SpeakerSession] = {}  # pool slot -> its session, once made
        # is the space the operator's (created with the admin key)? (live.registry.hosting)
        self.is_operator = is_operator
        self._operator_slots: dict[int, str] = {}  # the operator's pool slot -> its seat
        self.refused_share = 0  # offers refused a slot (network_share, whip_full)
        self.evicted_share = 0  # sessions without audio ended for a newcomer's slot
        key = hmac.new(settings.recording.secret, b"townhall speaker tokens",
                       hashlib.sha256).digest()
        self.tokens = SpeakerTokens(key)
        self._watchdog: asyncio.Task[None] | None = None
        self.rooms: dict[str, SpaceSpeakers] = {}
        s = settings
        urls = [u.strip() for u in s.stage.ice_servers.split(",") if u.strip()]
        self.ice_servers = [RTCIceServer(urls=u, username=s.stage.ice_username or None,
                                         credential=s.stage.ice_credential or None) for u in urls]

    # --- lifecycle ---
    async def start(self) -> None:
        addresses = self.settings.stage.ice_host_addresses.split(",")
        restrict_host_addresses([a.strip() for a in addresses if a.strip()])
        self._watchdog = asyncio.get_running_loop().create_task(self._watch())

    async def close(self) -> None:
        await tasks.cancel(self._watchdog)
        for room in list(self.rooms.values()):
            await self.close_space(room.space, "the server is stopping")

    async def close_space(self, space: LiveSpace, reason: str) -> None:
        room = space.speakers
        if room is not None:
            for session in list(room.sessions.values()):
                await self.end_session(room, session, reason)

    # --- who is asking ---
    def room(self, space: LiveSpace) -> SpaceSpeakers:
        if space.speakers is None:
            s = self.settings
            stage = Stage(space.record.id, self.tokens, cap=s.stage.speaker_cap,
                          max_seats=s.stage.max_stage_seats, host_name=space.record.host,
                          now=time.time(), max_hands=s.stage.max_raised_hands,
                          hands_per_address=s.stage.hands_per_address,
                          hands_per_network=s.stage.hands_per_network)
            # removals, approvals and a host's mute outlive a restart of this process
            stage.restore(self.spaces.store.load_seats(space.record.id))
            space.speakers = SpaceSpeakers(space, stage, s.stage.speaking_hold_s)
            self.rooms[space.record.id] = space.speakers
        return space.speakers

    def _persist(self, room: SpaceSpeakers) -> None:
        """Write the stage's changed seats through (a small SQLite write on the control
        path, so that a removal is on record before the host hears it is done)."""
        changed = room.stage.take_changes()
        if changed:
            self.spaces.store.save_seats(room.space.record.id, changed)

    def _reload_seats(self, room: SpaceSpeakers) -> None:
        """In a cluster, read the seats without a session here again from the shared store
        before one goes live: another origin may have removed or muted it, or had it live
        until it died (a stored LIVE seat is INVITED again). The store away: what is known."""
        if not self.spaces.clustered:
            return
        try:
            stored = self.spaces.store.load_seats(room.space.record.id)
        except StoreUnavailable:
            log.warning("space %s: seats not re-read (store unavailable)", room.space.record.id)
            return
        room.stage.restore([seat for seat in stored if room.session_of(seat.id) is None])

    def identify(self, space: LiveSpace, bearer: str | None) -> Seat:
        """The seat behind a bearer token: the host key, or a speaker token."""
        if not bearer:
            raise SpaceError(401, "missing_token",
                             "send Authorization: Bearer <host key or speaker token>")
        room = self.room(space)
        if is_speaker_token(bearer):
            try:
                try:
                    seat = room.stage.actor(bearer, time.time())
                except StageError as exc:
                    if exc.code != "hand_lowered" or not self.spaces.clustered:
                        raise
                    # in a cluster the hand may have been raised on another origin since
                    # this stage was read: read the stored seats once more (a lowered hand
                    # is not among them, so it stays lowered)
                    self._reload_seats(room)
                    seat = room.stage.actor(bearer, time.time())
            except StageError as exc:
                raise space_error(exc) from None
            self._persist(room)
            return seat
        if self.spaces.keys.ok(space, bearer):
            return room.stage.host
        raise SpaceError(401, "bad_token",
                         "the token is neither this space's host key nor a speaker token")

    # --- stage actions (control API) ---
    def invite(self, space: LiveSpace, actor: Seat, name: str, role: Role) -> Seat:
        room = self.room(space)
        try:
            seat = room.stage.invite(actor, name, role, time.time())
        except StageError as exc:
            raise space_error(exc) from None
        self._persist(room)
        return seat

    def raise_hand(self, space: LiveSpace, name: str, address: str = "") -> Seat:
        if space.record.phase is Phase.ENDED:
            raise SpaceError(409, "space_ended", "the space has ended")
        room = self.room(space)
        try:
            seat = room.stage.raise_hand(name, time.time(), address)
        except StageError as exc:
            raise space_error(exc) from None
        self._persist(room)
        space.status = None
        return seat

    async def act(self, space: LiveSpace, actor: Seat, seat_id: str, action: Action) -> Seat:
        room = self.room(space)
        try:
            target = room.stage.seat(seat_id)
            session = room.session_of(target.id)
            if action is Action.REMOVE and session is not None:
                room.stage.apply(actor, action, target, time.time())  # check before closing
                await self.end_session(room, session, "removed from the stage")
            else:
                room.stage.apply(actor, action, target, time.time())
        except StageError as exc:
            raise space_error(exc) from None
        finally:
            self._persist(room)
        if session is not None and action in (Action.MUTE, Action.UNMUTE):
            self._apply_mute(space, session, target)
        space.status = None
        return target

    def _apply_mute(self, space: LiveSpace, session: SpeakerSession, seat: Seat) -> None:
        program = space.program
        if program is not None:
            state = program.mixer.sources.get(session.source)
            if state is not None:
                state.muted = seat.muted

    # --- the WHIP session pool ---
    def operator_offer(self, space: LiveSpace, seat: Seat) -> str | None:
        """The seat's key (space/seat) if an offer from it may take the operator's reserved
        WHIP slots: the space is the operator's (created with the admin key) and the seat is
        its host, or a speaker or co-host its host invited or approved, that may go live
        (INVITED); else None. A raised hand, a removed seat or one already live (its offer
        is refused 409) gets no reserve."""
        if self.is_operator is None or seat.role is Role.LISTENER:
            return None
        if seat.state is not SeatState.INVITED:
            return None
        return f"{space.record.id}/{seat.id}" if self.is_operator(space) else None

    def take_slot(self, address: str, operator_seat: str | None = None) -> int:
        """A slot of the WHIP session pool for an offer from `address`, taken before its body
        is read; a session without audio is ended to make room if the pool's rules say so
        (admission.network_pool). `operator_seat` (`operator_offer`): the offer may take the
        operator's reserved slots, one at a time per seat (a second offer from the same
        seat, while the first holds its slot, is anyone's). Raises SpaceError 429
        network_share / 503 whip_full."""
        if operator_seat is not None and operator_seat in self._operator_slots.values():
            operator_seat = None
        operator = operator_seat is not None
        slot, arrival = self.pool.arrive(address, operator=operator)
        if not arrival.admitted:
            share = arrival.refusal == "address_share"
            code = "network_share" if share else "whip_full"
            self.refused_share += 1
            metrics.WHIP_SESSIONS_REFUSED.labels(code).inc()
            retry = max(1.0, self.settings.stage.whip_setup_timeout_s)
            log.warning("WHIP offer from %s%s refused: %s (%d sessions, %d without audio, "
                        "%d the operator's)", address, " (the operator's)" if operator else "",
                        code, len(self.pool), self.pool.provisional, self.pool.operator)
            self._gauge()
            if share:
                raise SpaceError(429, code, f"your network ({network_of(address)}) already "
                                 f"holds {self.settings.stage.whip_sessions_per_network} WHIP "
                                 f"sessions with audio on this server; retry in {retry:.0f} s",
                                 retry_after=retry)
            raise SpaceError(503, code, "this server holds as many WHIP sessions as it may; "
                             f"retry in {retry:.0f} s", retry_after=retry)
        if arrival.evict is not None:
            # network_share, pool_full, or operator (a full pool, and the operator came)
            reason = ("network_share" if arrival.evicted_for == "address_share"
                      else arrival.evicted_for or "pool_full")
            victim = self._slots.pop(arrival.evict, None)
            self.evicted_share += 1
            metrics.WHIP_SESSIONS_EVICTED.labels(reason).inc()
            log.warning("WHIP session %s without audio ended for a newcomer from %s (%s)",
                        victim.id if victim else "(being set up)", address, reason)
            if victim is not None and victim.cut_off is None:
                victim.cut_off = f"evicted: {reason}"  # the watchdog ends it within 0.25 s
        if operator_seat is not None:
            self._operator_slots[slot] = operator_seat
        self._gauge()
        return slot

    def release_slot(self, slot: int) -> None:
        """The slot's offer was refused, or its session ended."""
        self._slots.pop(slot, None)
        self._operator_slots.pop(slot, None)
        self.pool.leave(slot)
        self._gauge()

    def _gauge(self) -> None:
        provisional = self.pool.provisional
        metrics.WHIP_SESSIONS.labels("provisional").set(provisional)
        metrics.WHIP_SESSIONS.labels("audio").set(len(self.pool) - provisional)

    # --- WHIP sessions ---
    async def publish(self, space_id: str, bearer: str | None, offer: str,
                      slot: int) -> tuple[SpeakerSession, str]:
        """Start a session for the bearer's seat in its pool `slot` (`take_slot`: the caller
        gives it back if this raises before the session exists); returns the session and the
        SDP answer."""
        space = self.spaces.get(space_id)
        if space.record.phase is Phase.ENDED:
            raise SpaceError(409, "space_ended", "the space has ended; create a new one")
        self._reload_seats(self.room(space))
        seat = self.identify(space, bearer)
        assert bearer is not None
        if not self.pool.holds(slot):  # made room for a newer offer while this one was read
            raise SpaceError(429, "network_share", "your network's WHIP sessions were "
                             "needed for newer offers; publish again", retry_after=1.0)
        if self.admit is not None:
            self.admit(space)
        room = self.room(space)
        try:
            room.stage.apply(seat, Action.PUBLISH, seat, time.time())
        except StageError as exc:
            raise space_error(exc) from None
        self._persist(room)
        room.seq += 1
        ms = RATE // 1000
        session = SpeakerSession(
            id=secrets.token_urlsafe(12), seat_id=seat.id,
            source=f"{space_id}-whip-{seat.id}-{room.seq}",
            bearer_hash=hashlib.sha256(bearer.encode()).hexdigest(),
            pc=RTCPeerConnection(RTCConfiguration(iceServers=self.ice_servers)),
            outgoing=MixMinusTrack(self.settings.stage.mix_minus_max_ms * ms),
            created=time.monotonic(), slot=slot)
        room.sessions[session.id] = session
        self._slots[slot] = session
        try:
            answer = await self._negotiate(room, session, offer)
        except SpaceError:
            await self.end_session(room, session, "negotiation failed")
            raise
        except Exception as exc:  # aiortc rejects an offer with many exception types
            await self.end_session(room, session, "negotiation failed")
            raise SpaceError(400, "malformed_sdp", f"the SDP offer was refused: {exc}") from None
        space.status = None
        log.info("speaker %s live in %s (session %s)", seat.id, space_id, session.id,
                 extra={"space_id": space_id})
        return session, answer

    async def _negotiate(self, room: SpaceSpeakers, session: SpeakerSession,
                         offer: str) -> str:
        pc = session.pc

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio" and session.consumer is None:
                session.consumer = asyncio.get_running_loop().create_task(
                    self._consume(room, session, track))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self.end_session(room, session, f"connection {pc.connectionState}")

        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        audio = [t for t in pc.getTransceivers() if t.kind == "audio"]
        if not audio:
            raise SpaceError(422, "no_audio", "the offer has no audio section to publish")
        for t in pc.getTransceivers():
            if t.kind != "audio" or t is not audio[0]:
                t.direction = "inactive"  # audio only: no video decoded, no extra m-lines
        if not shallow_receive_buffer(audio[0].receiver,
                                      self.settings.stage.speaker_receive_prefetch):
            log.warning("aiortc changed: its receive buffer stays at 80 ms")
        pc.addTrack(session.outgoing)  # sendrecv if the offer can receive, else recvonly
        await pc.setLocalDescription(await pc.createAnswer())
        return pc.localDescription.sdp

    async def _consume(self, room: SpaceSpeakers, session: SpeakerSession,
                       track: MediaStreamTrack) -> None:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        while not session.closed:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            assert isinstance(frame, av.AudioFrame)
            if session.last_audio is None and not self._admit_first_audio(room, session):
                await self.end_session(room, session, "no program slot")
                return
            if session.last_audio is None:
                self.pool.authorised(session.slot)  # audio: no longer evicted for others
                self._gauge()
            session.last_audio = time.monotonic()
            session.frames_in += 1
            pcm = to_mono(frame, resampler)
            if not session.attached and not self._attach(room, session):
                return
            program = room.space.program
            if program is not None:
                program.write(session.source, pcm)

    def _admit_first_audio(self, room: SpaceSpeakers, session: SpeakerSession) -> bool:
        """Program slots are paid with audio, not with a session (live.registry.hosting): the
        first frame asks the hosting quotas again; refused, the session ends (counted, logged)."""
        if self.admit_audio is None:
            return True
        try:
            self.admit_audio(room.space)
        except SpaceError as exc:
            self.refused_audio += 1
            metrics.WHIP_SESSIONS_REFUSED_AT_AUDIO.labels(exc.code).inc()
            log.warning("space %s: speaker %s's audio refused a program slot: %s",
                        room.space.record.id, session.seat_id, exc.message,
                        extra={"space_id": room.space.record.id})
            return False
        return True

    def _attach(self, room: SpaceSpeakers, session: SpeakerSession) -> bool:
        s = self.settings
        ms = s.media.sample_rate // 1000
        program = self.spaces.go_live(room.space, session.source, s.stage.speaker_prebuffer_ms * ms,
                                      s.stage.speaker_ceiling_ms * ms)
        if program is None:
            return False
        session.attached = True
        threshold = s.stage.speaking_threshold_dbfs

        def on_frame(_pcm: Pcm) -> None:
            try:
                room.on_frame(program, threshold)
            except Exception:  # talk-back failing must never stop the program clock
                log.exception("mix-minus for %s", room.space.record.id)

        program.on_frame = on_frame
        seat = room.stage.seats.get(session.seat_id)
        if seat is not None:
            self._apply_mute(room.space, session, seat)
        room.space.status = None
        return True

    async def unpublish(self, space_id: str, session_id: str, bearer: str | None) -> None:
        """WHIP DELETE: the publisher (or the host) ends a session."""
        space = self.spaces.get(space_id)
        room = self.room(space)
        session = room.sessions.get(session_id)
        bearer_hash = session.bearer_hash if session else room.ended.get(session_id)
        if bearer_hash is None:
            raise SpaceError(404, "session_not_found",
                             "no such WHIP session (it ended, or was never created)")
        if not bearer:
            raise SpaceError(401, "missing_token", "send the token that created the session")
        mine = hmac.compare_digest(hashlib.sha256(bearer.encode()).hexdigest(), bearer_hash)
        if not mine and not self.spaces.keys.ok(space, bearer):
            raise SpaceError(403, "not_allowed", "only the publisher or the host may end it")
        if session is not None:
            await self.end_session(room, session, "deleted")

    async def end_session(self, room: SpaceSpeakers, session: SpeakerSession,
                          reason: str) -> None:
        if session.closed:
            return
        session.closed = True
        room.sessions.pop(session.id, None)
        self.release_slot(session.slot)
        room.ended[session.id] = session.bearer_hash
        while len(room.ended) > ENDED_REMEMBERED:
            del room.ended[next(iter(room.ended))]
        seat = room.stage.seats.get(session.seat_id)
        if seat is not None and seat.state is SeatState.LIVE:
            room.stage.apply(seat, Action.UNPUBLISH, seat, time.time())
            self._persist(room)
        program = room.space.program
        if session.attached and program is not None:
            program.detach(session.source)
        session.outgoing.stop()
        if session.consumer is not None and session.consumer is not asyncio.current_task():
            session.consumer.cancel()
        room.space.status = None
        log.info("speaker %s left %s: %s", session.seat_id, room.space.record.id, reason,
                 extra={"space_id": room.space.record.id})
        with contextlib.suppress(Exception):
            await asyncio.wait_for(session.pc.close(), 5)

    async def _watch(self) -> None:
        s = self.settings
        while True:
            await asyncio.sleep(WATCH_EVERY_S)
            now = time.monotonic()
            for room in list(self.rooms.values()):
                for session in list(room.sessions.values()):
                    heard = session.last_audio
                    reason = session.cut_off
                    if reason is not None:
                        pass
                    elif heard is None and now - session.created > s.stage.whip_setup_timeout_s:
                        reason = "no audio after setup"
                    elif heard is not None and now - heard > s.stage.speaker_drop_timeout_s:
                        reason = "no audio: connection lost"
                    if reason is None:
                        reason = self._unheard(room, session, now)
                    if reason is not None:
                        try:
                            await self.end_session(room, session, reason)
                        except Exception:
                            log.exception("closing session %s", session.id)

    def _unheard(self, room: SpaceSpeakers, session: SpeakerSession, now: float) -> str | None:
        """A reason to end a session heard nowhere: attached to a standby program (cluster)
        for `source_unheard_s`, because another origin runs the program."""
        program = room.space.program
        if not session.attached or program is None or not program.following:
            session.unheard_since = None
            return None
        if session.unheard_since is None:
            session.unheard_since = now
            return None
        if now - session.unheard_since < self.settings.cluster.source_unheard_s:
            return None
        self.sessions_moved += 1
        metrics.SOURCES_MOVED.labels("speaker").inc()
        log.warning("space %s: speaker %s was not heard for %.1f s (the program runs on "
                    "another origin); ending the session so that it reconnects there",
                    room.space.record.id, session.seat_id, now - session.unheard_since,
                    extra={"space_id": room.space.record.id})
        return "moved: the program runs on another origin"

    # --- documents ---
    def seat_doc(self, space: LiveSpace, seat: Seat) -> dict[str, Any]:
        """A seat as its managers (and the speaker) see it: with its link and session."""
        room = self.room(space)
        doc = room.seat_doc(seat, time.monotonic())
        session = room.session_of(seat.id)
        doc["muted_by_host"] = seat.muted_by_manager
        doc["session"] = session.id if session is not None else None
        if seat.role is not Role.HOST and seat.state is not SeatState.REMOVED:
            token = room.stage.token_for(seat)
            doc["token"] = token
            doc["speak_url"] = (f"{self.settings.listen.base_url}/spaces/{space.record.id}/speak"
                                f"#token={token}")
        return doc

    def whip_url(self, space: LiveSpace) -> str:
        return f"{self.settings.listen.base_url}/whip/{space.record.id}"


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
