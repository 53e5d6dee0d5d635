"""The stage's seats as the control API changes them: who is asking (host key or speaker
token), invitations, raised hands, approvals, mutes and removals, written through to the
store.

Service. Each space's stage (the roles core, `space.roles.Stage`) lives in its
`SpaceSpeakers` (`room`), restored from the store the first time it is needed, so that
removals, approvals and a host's mute outlive a restart. Seat changes are written through
(one small SQLite write per stage action): a removal is on record before the host hears it is
done. In a cluster the seats without a session here are read again from the shared store
before one goes live (`reload_seats`): another origin may have removed or muted it, or had it
live until it died. Removing a live speaker ends its WHIP session (`end_session`, given by
`live.stage.speakers.Speakers`); a mute reaches the program mixer at once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from townhall.live.errors import SpaceError
from townhall.live.stage.space_speakers import SpaceSpeakers, SpeakerSession
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
    from townhall.live.registry.live_space import LiveSpace
    from townhall.live.registry.spaces import Spaces

log = logging.getLogger("townhall.speakers")
PROBLEM_STATUS = {Problem.UNAUTHORIZED: 401, Problem.FORBIDDEN: 403, Problem.NOT_FOUND: 404,
                  Problem.CONFLICT: 409, Problem.INVALID: 422}
EndSession = Callable[[SpaceSpeakers, SpeakerSession, str], Awaitable[None]]


def space_error(exc: StageError) -> SpaceError:
    return SpaceError(PROBLEM_STATUS[exc.problem], exc.code, exc.detail)


class StageSeats:
    def __init__(self, settings: Settings, spaces: Spaces, end_session: EndSession) -> None:
        self.settings = settings
        self.spaces = spaces
        self.end_session = end_session
        key = hmac.new(settings.recording.secret, b"townhall speaker tokens",
                       hashlib.sha256).digest()
        self.tokens = SpeakerTokens(key)
        self.rooms: dict[str, SpaceSpeakers] = {}

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

    def persist(self, room: SpaceSpeakers) -> None:
        """Write the stage's changed seats through (a small SQLite write on the control
        path, so that a removal is on record before the host hears it is done)."""
        changed = room.stage.take_changes()
        if changed:
            self.spaces.store.save_seats(room.space.record.id, changed)

    def reload_seats(self, room: SpaceSpeakers) -> None:
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
                    self.reload_seats(room)
                    seat = room.stage.actor(bearer, time.time())
            except StageError as exc:
                raise space_error(exc) from None
            self.persist(room)
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
        self.persist(room)
        return seat

    def raise_hand(self, space: LiveSpace, name: str, address: str = "") -> Seat:
        if space.record.phase is Phase.ENDED:
            raise SpaceError(409, "space_ended", "the space has ended")
        room = self.room(space)
        try:
            seat = room.stage.raise_hand(name, time.time(), address)
        except StageError as exc:
            raise space_error(exc) from None
        self.persist(room)
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
            self.persist(room)
        if session is not None and action in (Action.MUTE, Action.UNMUTE):
            self.apply_mute(space, session, target)
        space.status = None
        return target

    def apply_mute(self, space: LiveSpace, session: SpeakerSession, seat: Seat) -> None:
        program = space.program
        if program is not None:
            state = program.mixer.sources.get(session.source)
            if state is not None:
                state.muted = seat.muted

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
