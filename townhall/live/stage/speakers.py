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

Collaborators, each its own object: the seats and who is asking (`live.stage.stage_seats`),
the WHIP session pool with its per-network share and the operator's reserve
(`live.stage.whip_pool`), and each space's sessions and mix-minus
(`live.stage.space_speakers`). This module starts, feeds and ends the sessions.
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
from typing import TYPE_CHECKING

import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

from townhall.live import tasks
from townhall.live.errors import SpaceError
from townhall.live.stage.rtc import (
    RATE,
    MixMinusTrack,
    restrict_host_addresses,
    shallow_receive_buffer,
    to_mono,
)
from townhall.live.stage.space_speakers import (
    ENDED_REMEMBERED,
    SpaceSpeakers,
    SpeakerSession,
    stage_status,
)
from townhall.live.stage.stage_seats import StageSeats, space_error
from townhall.live.stage.whip_pool import WhipPool
from townhall.ops import metrics
from townhall.settings import Settings
from townhall.space.lifecycle import Phase
from townhall.space.roles import Action, SeatState, StageError

if TYPE_CHECKING:
    from townhall.live.registry.live_space import LiveSpace
    from townhall.live.registry.spaces import Spaces

__all__ = ["SpaceSpeakers", "SpeakerSession", "Speakers", "stage_status"]
log = logging.getLogger("townhall.speakers")
WATCH_EVERY_S = 0.25


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
        self.seats = StageSeats(settings, spaces, self.end_session)
        self.pool = WhipPool(settings, is_operator)  # with a per-network share (issue 18)
        self._watchdog: asyncio.Task[None] | None = None
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
        for room in list(self.seats.rooms.values()):
            await self.close_space(room.space, "the server is stopping")

    async def close_space(self, space: LiveSpace, reason: str) -> None:
        room = space.speakers
        if room is not None:
            for session in list(room.sessions.values()):
                await self.end_session(room, session, reason)

    # --- WHIP sessions ---
    async def publish(self, space_id: str, bearer: str | None, offer: str,
                      slot: int) -> tuple[SpeakerSession, str]:
        """Start a session for the bearer's seat in its pool `slot` (`take_slot`: the caller
        gives it back if this raises before the session exists); returns the session and the
        SDP answer."""
        space = self.spaces.get(space_id)
        if space.record.phase is Phase.ENDED:
            raise SpaceError(409, "space_ended", "the space has ended; create a new one")
        self.seats.reload_seats(self.seats.room(space))
        seat = self.seats.identify(space, bearer)
        assert bearer is not None
        if not self.pool.holds(slot):  # made room for a newer offer while this one was read
            raise SpaceError(429, "network_share", "your network's WHIP sessions were "
                             "needed for newer offers; publish again", retry_after=1.0)
        if self.admit is not None:
            self.admit(space)
        room = self.seats.room(space)
        try:
            room.stage.apply(seat, Action.PUBLISH, seat, time.time())
        except StageError as exc:
            raise space_error(exc) from None
        self.seats.persist(room)
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
        self.pool.bind(slot, session)
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
                self.pool.heard(session.slot)  # audio: no longer evicted for others
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
        session.attached = True  # heard in the mix; mix-minus back (space_speakers)
        seat = room.stage.seats.get(session.seat_id)
        if seat is not None:
            self.seats.apply_mute(room.space, session, seat)
        room.space.status = None
        return True

    async def unpublish(self, space_id: str, session_id: str, bearer: str | None) -> None:
        """WHIP DELETE: the publisher (or the host) ends a session."""
        space = self.spaces.get(space_id)
        room = self.seats.room(space)
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
        self.pool.release(session.slot)
        room.ended[session.id] = session.bearer_hash
        while len(room.ended) > ENDED_REMEMBERED:
            del room.ended[next(iter(room.ended))]
        seat = room.stage.seats.get(session.seat_id)
        if seat is not None and seat.state is SeatState.LIVE:
            room.stage.apply(seat, Action.UNPUBLISH, seat, time.time())
            self.seats.persist(room)
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
            for room in list(self.seats.rooms.values()):
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
