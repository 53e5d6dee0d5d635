"""Who may speak in a space: roles, the stage cap, speaker tokens, raised hands, mute, remove.

Sans-IO core. A `Stage` holds one space's seats (the host, co-hosts, invited speakers, raised
hands) and changes them through one table; it is fed `now`, never reads a clock, never touches
sockets or storage. Speaker tokens are HMAC-signed and name one space and one seat, so they
are checked without a lookup and cannot be used in another space.

Rules of the seat table (TRANSITIONS), in the manner of h11's _state.py:
  - A seat is created INVITED (the host or a co-host invited someone: a speaker link) or
    RAISED (a listener raised a hand). The host's own seat exists from the start, INVITED.
  - APPROVE makes a RAISED seat INVITED (its role becomes speaker); LOWER makes it REMOVED.
  - PUBLISH (a WHIP session starts) makes an INVITED seat LIVE while fewer than `cap` seats
    are LIVE (the host counts). UNPUBLISH (the session ended, dropped or was stopped) makes it
    INVITED again: the speaker may rejoin with the same token.
  - MUTE and UNMUTE keep the state and set the muted flag (INVITED or LIVE).
  - REMOVE makes any seat but the host's REMOVED. REMOVED is final: the token is revoked.
  - PROMOTE keeps the state and makes a speaker (INVITED or LIVE) a co-host; only the host
    may. The seat's role is the seat's, not the token's: the speaker's link keeps working.
Bounds: raised hands are a queue of their own (`max_hands` waiting per space, `hands_per_
address` per address and `hands_per_network` per /24 or /64, `admission.shares`) and never
count against the invites (`max_seats`: invited, live and
removed speakers), so the host can always invite. A hand that is lowered or removed leaves
the stage at once (its seat is forgotten, not counted) and stays lowered: a hand's token
speaks only for its own hand while it is on the stage, and never raises it again (issue 18:
tokens of lowered hands came back raised, and 12 addresses held the 200-hand queue); raising
again is a new hand, counted in its address's share. A removed speaker's seat is kept, so
its token stays revoked.
Every changed seat is kept for `take_changes` (the service writes them to the store), and
`restore` rebuilds a stage from stored seats after a restart: removals, approvals, names and
a host's mute hold; a seat that was LIVE is INVITED again (its session died with the process).
Who may act (PERMISSIONS): a seat on itself; the host on anyone; a co-host on speakers and
raised hands. A speaker muted by the host or a co-host cannot unmute themselves.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

from townhall.admission.shares import share_key

HOST_SEAT = "host"
TOKEN_PREFIX = "th1"
TOKEN_RE = re.compile(r"^th1\.(?P<space>[a-z0-9]{1,32})\.(?P<seat>[A-Za-z0-9_-]{4,32})"
                      r"\.(?P<grant>[sch])\.(?P<sig>[A-Za-z0-9_-]{32})$")
MAX_NAME_CHARS = 60


class Role(StrEnum):
    HOST = "host"
    COHOST = "cohost"
    SPEAKER = "speaker"
    LISTENER = "listener"  # a raised hand not yet approved


class SeatState(StrEnum):
    RAISED = "raised"
    INVITED = "invited"
    LIVE = "live"
    REMOVED = "removed"


class Action(StrEnum):
    APPROVE = "approve"
    LOWER = "lower"
    PUBLISH = "publish"
    UNPUBLISH = "unpublish"
    MUTE = "mute"
    UNMUTE = "unmute"
    REMOVE = "remove"
    PROMOTE = "promote"


class Who(StrEnum):
    SELF = "self"
    HOST = "host"
    COHOST = "cohost"


class Problem(StrEnum):
    """What kind of refusal; the service maps each to one HTTP status."""

    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    INVALID = "invalid"


class StageError(Exception):
    def __init__(self, problem: Problem, code: str, detail: str) -> None:
        super().__init__(detail)
        self.problem = problem
        self.code = code
        self.detail = detail


TRANSITIONS: dict[tuple[SeatState, Action], SeatState] = {
    (SeatState.RAISED, Action.APPROVE): SeatState.INVITED,
    (SeatState.RAISED, Action.LOWER): SeatState.REMOVED,
    (SeatState.INVITED, Action.PUBLISH): SeatState.LIVE,
    (SeatState.LIVE, Action.UNPUBLISH): SeatState.INVITED,
    (SeatState.INVITED, Action.MUTE): SeatState.INVITED,
    (SeatState.LIVE, Action.MUTE): SeatState.LIVE,
    (SeatState.INVITED, Action.UNMUTE): SeatState.INVITED,
    (SeatState.LIVE, Action.UNMUTE): SeatState.LIVE,
    (SeatState.RAISED, Action.REMOVE): SeatState.REMOVED,
    (SeatState.INVITED, Action.REMOVE): SeatState.REMOVED,
    (SeatState.LIVE, Action.REMOVE): SeatState.REMOVED,
    (SeatState.INVITED, Action.PROMOTE): SeatState.INVITED,
    (SeatState.LIVE, Action.PROMOTE): SeatState.LIVE,
}

PERMISSIONS: dict[Action, frozenset[Who]] = {
    Action.APPROVE: frozenset({Who.HOST, Who.COHOST}),
    Action.LOWER: frozenset({Who.SELF, Who.HOST, Who.COHOST}),
    Action.PUBLISH: frozenset({Who.SELF}),
    Action.UNPUBLISH: frozenset({Who.SELF, Who.HOST, Who.COHOST}),
    Action.MUTE: frozenset({Who.SELF, Who.HOST, Who.COHOST}),
    Action.UNMUTE: frozenset({Who.SELF, Who.HOST, Who.COHOST}),
    Action.REMOVE: frozenset({Who.SELF, Who.HOST, Who.COHOST}),
    Action.PROMOTE: frozenset({Who.HOST}),
}

# refusals worth a specific message: (state, action) -> (problem, code, detail)
REFUSALS: dict[tuple[SeatState, Action], tuple[Problem, str, str]] = {
    (SeatState.LIVE, Action.PUBLISH): (
        Problem.CONFLICT, "already_live",
        "this seat is already publishing; DELETE its session before publishing again"),
    (SeatState.RAISED, Action.PUBLISH): (
        Problem.FORBIDDEN, "not_approved", "your raised hand is waiting for the host"),
    (SeatState.REMOVED, Action.PUBLISH): (
        Problem.FORBIDDEN, "removed", "you were removed from the stage; ask for a new invite"),
    (SeatState.INVITED, Action.APPROVE): (
        Problem.CONFLICT, "already_approved", "this speaker may already go live"),
    (SeatState.LIVE, Action.APPROVE): (
        Problem.CONFLICT, "already_approved", "this speaker is already live"),
}


@dataclass(frozen=True)
class Claim:
    """What a valid speaker token says."""

    space_id: str
    seat_id: str
    grant: str  # "s" speaker, "c" co-host, "h" raised hand


GRANT_ROLE = {"s": Role.SPEAKER, "c": Role.COHOST, "h": Role.LISTENER}
ROLE_GRANT = {Role.SPEAKER: "s", Role.COHOST: "c", Role.LISTENER: "h"}


class SpeakerTokens:
    """`th1.<space>.<seat>.<grant>.<sig>`, sig = HMAC-SHA256 over the rest, 192 bits kept."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the speaker token secret needs at least 16 bytes")
        self._secret = secret

    def _sign(self, space_id: str, seat_id: str, grant: str) -> str:
        msg = f"townhall-speaker|{space_id}|{seat_id}|{grant}".encode()
        digest = hmac.new(self._secret, msg, hashlib.sha256).digest()[:24]
        return base64.urlsafe_b64encode(digest).decode()

    def issue(self, space_id: str, seat_id: str, grant: str) -> str:
        if grant not in GRANT_ROLE:
            raise ValueError(f"unknown grant {grant!r}")
        return f"{TOKEN_PREFIX}.{space_id}.{seat_id}.{grant}.{self._sign(space_id, seat_id, grant)}"

    def check(self, token: str) -> Claim:
        """The claim of a genuine token; StageError(UNAUTHORIZED) otherwise. Constant time."""
        m = TOKEN_RE.match(token)
        if m is None:
            raise StageError(Problem.UNAUTHORIZED, "bad_token",
                             "the token is neither this space's host key nor a speaker token")
        want = self._sign(m["space"], m["seat"], m["grant"])
        if not hmac.compare_digest(want, m["sig"]):
            raise StageError(Problem.UNAUTHORIZED, "bad_token",
                             "the speaker token is not genuine (altered or from another server)")
        return Claim(m["space"], m["seat"], m["grant"])


def is_speaker_token(value: str) -> bool:
    return value.startswith(TOKEN_PREFIX + ".")


@dataclass
class Seat:
    id: str
    name: str
    role: Role
    state: SeatState
    since: float
    muted: bool = False
    muted_by_manager: bool = False


def clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not 1 <= len(name) <= MAX_NAME_CHARS:
        raise StageError(Problem.INVALID, "invalid_request",
                         f"name: must be 1 to {MAX_NAME_CHARS} characters")
    return name


class Stage:
    """One space's seats. `cap` bounds LIVE seats; `max_seats` bounds every seat ever made."""

    def __init__(self, space_id: str, tokens: SpeakerTokens, *, cap: int, max_seats: int,
                 host_name: str, now: float, max_hands: int = 200,
                 hands_per_address: int = 2, hands_per_network: int = 10) -> None:
        if cap < 1 or max_seats < cap or max_hands < 1 or hands_per_address < 1 \
                or hands_per_network < hands_per_address:
            raise ValueError("need 1 <= cap <= max_seats, hand limits of at least 1 and "
                             "hands_per_network >= hands_per_address")
        self.space_id = space_id
        self.tokens = tokens
        self.cap = cap
        self.max_seats = max_seats
        self.max_hands = max_hands
        self.hands_per_address = hands_per_address
        self.hands_per_network = hands_per_network
        self._hand_address: dict[str, str] = {}  # raised hand -> the address that raised it
        self.seats: dict[str, Seat] = {
            HOST_SEAT: Seat(HOST_SEAT, host_name, Role.HOST, SeatState.INVITED, now)}
        self._changed: dict[str, Seat] = {}

    def take_changes(self) -> list[Seat]:
        """The seats changed since the last call (each once, as they are now)."""
        changed, self._changed = list(self._changed.values()), {}
        return changed

    def _touch(self, seat: Seat) -> None:
        self._changed[seat.id] = seat

    def restore(self, seats: list[Seat]) -> None:
        """Seats as stored before a restart. No session survived one: LIVE becomes INVITED."""
        for stored in seats:
            seat = Seat(stored.id, stored.name, stored.role, stored.state, stored.since,
                        stored.muted, stored.muted_by_manager)
            if seat.state is SeatState.LIVE:
                seat.state = SeatState.INVITED
            if seat.id == HOST_SEAT:
                seat.role, seat.state = Role.HOST, SeatState.INVITED
            if seat.role is Role.LISTENER and seat.state is SeatState.REMOVED:
                continue  # a lowered hand is forgotten
            self.seats[seat.id] = seat

    @property
    def host(self) -> Seat:
        return self.seats[HOST_SEAT]

    @property
    def live(self) -> list[Seat]:
        return [s for s in self.seats.values() if s.state is SeatState.LIVE]

    def token_for(self, seat: Seat) -> str:
        if seat.role is Role.HOST:
            raise ValueError("the host speaks with the host key, not a token")
        return self.tokens.issue(self.space_id, seat.id, ROLE_GRANT[seat.role])

    @property
    def hands(self) -> list[Seat]:
        """Raised hands waiting, oldest first (the queue the host sees)."""
        return sorted((s for s in self.seats.values() if s.state is SeatState.RAISED),
                      key=lambda s: s.since)

    def _invites(self) -> int:
        return sum(1 for s in self.seats.values() if s.role is not Role.LISTENER)

    def _check_room(self, hand: bool) -> None:
        if hand and len(self.hands) >= self.max_hands:
            raise StageError(Problem.CONFLICT, "too_many_hands",
                             f"{self.max_hands} hands are already raised; try again later")
        if not hand and self._invites() >= self.max_seats:
            raise StageError(Problem.CONFLICT, "too_many_seats",
                             f"this space already has {self.max_seats} invites")

    def _forget_hand(self, seat: Seat) -> None:
        """A lowered or removed hand leaves the stage: nothing of it is counted."""
        if seat.role is Role.LISTENER and seat.state is SeatState.REMOVED:
            self.seats.pop(seat.id, None)
            self._hand_address.pop(seat.id, None)

    def _new_seat(self, name: str, role: Role, state: SeatState, now: float) -> Seat:
        self._check_room(role is Role.LISTENER)
        seat_id = secrets.token_urlsafe(9)
        while seat_id in self.seats:
            seat_id = secrets.token_urlsafe(9)
        seat = Seat(seat_id, clean_name(name), role, state, now)
        self.seats[seat_id] = seat
        self._touch(seat)
        return seat

    def actor(self, token: str, now: float) -> Seat:
        """The seat a speaker token speaks for. A genuine token for a seat this process has
        not seen (it restarted) recreates the seat, so links survive a restart."""
        claim = self.tokens.check(token)
        if claim.space_id != self.space_id:
            raise StageError(Problem.FORBIDDEN, "wrong_space",
                             f"this speaker token is for space {claim.space_id!r}, "
                             f"not {self.space_id!r}")
        seat = self.seats.get(claim.seat_id)
        if seat is None:
            role = GRANT_ROLE[claim.grant]
            if role is Role.LISTENER:
                # a raised hand is stored while it waits (restore brings it back): one not
                # here was lowered, removed or never raised here, and stays so
                raise StageError(Problem.FORBIDDEN, "hand_lowered",
                                 "this raised hand was lowered; raise your hand again")
            self._check_room(False)
            seat = Seat(claim.seat_id, "Guest", role, SeatState.INVITED, now)
            self.seats[seat.id] = seat
            self._touch(seat)
        return seat

    def invite(self, actor: Seat, name: str, role: Role, now: float) -> Seat:
        if role not in (Role.SPEAKER, Role.COHOST):
            raise StageError(Problem.INVALID, "invalid_request",
                             "role: invite a speaker or a cohost")
        if actor.role is not Role.HOST and not (actor.role is Role.COHOST
                                                and role is Role.SPEAKER):
            raise StageError(Problem.FORBIDDEN, "not_allowed",
                             "only the host invites co-hosts; hosts and co-hosts invite "
                             "speakers")
        return self._new_seat(name, role, SeatState.INVITED, now)

    def raise_hand(self, name: str, now: float, address: str = "") -> Seat:
        if address and sum(1 for a in self._hand_address.values()
                           if a == address) >= self.hands_per_address:
            raise StageError(Problem.CONFLICT, "hand_already_raised",
                             f"at most {self.hands_per_address} hands per address; wait for "
                             "the host")
        network = share_key(address) if address else ""
        if network and sum(1 for a in self._hand_address.values()
                           if share_key(a) == network) >= self.hands_per_network:
            raise StageError(Problem.CONFLICT, "network_hands_raised",
                             f"at most {self.hands_per_network} hands per network "
                             f"({network}); wait for the host")
        seat = self._new_seat(name, Role.LISTENER, SeatState.RAISED, now)
        if address:
            self._hand_address[seat.id] = address
        return seat

    def seat(self, seat_id: str) -> Seat:
        seat = self.seats.get(seat_id)
        if seat is None:
            raise StageError(Problem.NOT_FOUND, "seat_not_found",
                             f"no speaker or raised hand {seat_id!r} in this space")
        return seat

    def who(self, actor: Seat, target: Seat) -> Who | None:
        if actor.id == target.id:
            return Who.SELF
        if actor.role is Role.HOST:
            return Who.HOST
        if actor.role is Role.COHOST and target.role in (Role.SPEAKER, Role.LISTENER):
            return Who.COHOST
        return None

    def apply(self, actor: Seat, action: Action, target: Seat, now: float) -> Seat:
        """Do `action` on `target` for `actor`, or raise StageError saying why not."""
        who = self.who(actor, target)
        if who is None or who not in PERMISSIONS[action]:
            raise StageError(Problem.FORBIDDEN, "not_allowed",
                             f"you may not {action.value} {target.name!r}")
        if target.role is Role.HOST and action in (Action.REMOVE, Action.LOWER):
            raise StageError(Problem.FORBIDDEN, "not_allowed",
                             "the host's seat cannot be removed; end the space instead")
        nxt = TRANSITIONS.get((target.state, action))
        if nxt is None:
            refusal = REFUSALS.get((target.state, action))
            if refusal is not None:
                raise StageError(*refusal)
            if target.state is SeatState.REMOVED:
                raise StageError(Problem.FORBIDDEN, "removed",
                                 f"{target.name!r} was removed from the stage")
            raise StageError(Problem.CONFLICT, "wrong_state",
                             f"cannot {action.value} a seat that is {target.state.value}")
        if action is Action.PUBLISH and len(self.live) >= self.cap:
            raise StageError(Problem.CONFLICT, "stage_full",
                             f"{self.cap} speakers are live, the most this space allows; "
                             "wait for one to leave")
        if action is Action.UNMUTE and who is Who.SELF and target.muted_by_manager:
            raise StageError(Problem.FORBIDDEN, "muted_by_host",
                             "the host muted you; ask them to unmute you")
        if action is Action.PROMOTE and target.role is not Role.SPEAKER:
            raise StageError(Problem.CONFLICT, "not_a_speaker",
                             f"{target.name!r} is a {target.role.value}, not a speaker")
        if action is Action.MUTE:
            target.muted = True
            target.muted_by_manager = who is not Who.SELF
        elif action is Action.UNMUTE:
            target.muted = target.muted_by_manager = False
        elif action is Action.APPROVE:
            self._check_room(False)  # an approved hand becomes an invite
            target.role = Role.SPEAKER
            self._hand_address.pop(target.id, None)
        elif action is Action.PROMOTE:
            target.role = Role.COHOST
        if nxt is not target.state:
            target.state = nxt
            target.since = now
        self._touch(target)
        self._forget_hand(target)
        return target
