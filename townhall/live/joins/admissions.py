"""Admissions service: the join endpoint's logic, attack mode, and the rate-limit budgets.

Service layer over the sans-IO admission cores. Decides, per join request, between a ticket,
a waiting-room place, a proof-of-work challenge, or a clear refusal. Keeps no state of its
own beyond the cores'; never touches the database (seats live in each space's `Room`: this
process's memory, or Redis for a capped space in a cluster).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from townhall.admission.attack import AttackMode
from townhall.admission.limiter import Limiter, LocalLimiter
from townhall.admission.listening import ListeningLog
from townhall.admission.pressure import DEFAULT_CEILINGS, Ceiling, Pressure, Priority
from townhall.admission.proof_of_work import ProofOfWork
from townhall.admission.rate_limit import ClientLimiter, Gcra, Rate
from townhall.admission.tickets import Check, TicketSigner, ticket_expiry
from townhall.admission.waiting_room import Admitted, Queued, Refused, Unknown
from townhall.live.errors import SpaceError
from townhall.live.registry.spaces import LiveSpace, Spaces
from townhall.settings import Settings
from townhall.space.lifecycle import Phase
from townhall.space.space_record import iso
from townhall.space.urls import space_urls

Answer = tuple[int, dict[str, Any], dict[str, str] | None]  # status, JSON body, headers


@dataclass(frozen=True)
class JoinRequest:
    token: str | None = None  # a waiting-room place, to poll
    renew: str | None = None  # a held ticket, to extend
    challenge: str | None = None  # proof of work, in attack mode
    solution: str | None = None
    seat_secret: str | None = None  # proves the holder of `renew` (the page keeps it)
    address: str = ""  # who asks: a capped space's seats are shared out per network


def scaled_ceilings(settings: Settings) -> dict[Priority, Ceiling]:
    out = {}
    for prio, c in DEFAULT_CEILINGS.items():
        flight = c.in_flight if prio is Priority.MEDIA else min(
            c.in_flight, int(settings.overload.max_in_flight / (1 + int(prio) - 1 or 1)))
        out[prio] = Ceiling(c.lag_s * settings.overload.shed_lag_scale, flight)
    return out


class Admissions:
    def __init__(self, settings: Settings, spaces: Spaces,
                 announce: Callable[[str, str], None] | None = None,
                 listening: ListeningLog | None = None) -> None:
        s = settings
        self.settings = s
        self.spaces = spaces
        # every ticket handed out and seat given back, for the host's listening time
        # (admission/listening.py); a dict write per grant or renewal, never per media request
        self.listening = listening or ListeningLog.empty(s.reach.analytics_max_keys)
        self.signer = TicketSigner(s.admission.ticket_secret)
        self.pow = ProofOfWork(s.recording.secret)
        self.attack = AttackMode(s.overload.attack_mode, s.overload.attack_join_rate,
                                 s.overload.attack_shed_rate,
                                 s.overload.attack_cooldown_s, s.overload.pow_min_difficulty,
                                 s.overload.pow_max_difficulty)
        join_a = Rate(s.limits.join_rate_per_address, s.limits.join_burst_per_address)
        join_n = Rate(s.limits.join_rate_per_network, s.limits.join_burst_per_network)
        api_a = Rate(s.limits.api_rate_per_address, s.limits.api_burst_per_address)
        api_n = Rate(s.limits.api_rate_per_network, s.limits.api_burst_per_network)
        start_a = Rate(s.limits.join_rate_per_address, s.admission.player_starts_burst_per_address)
        clip_a = Rate(s.recording.clip_rate_per_address, s.recording.clip_burst_per_address)
        clip_n = Rate(s.recording.clip_rate_per_network, s.recording.clip_burst_per_network)
        self.join_limits: Limiter
        self.start_limits: Limiter  # standard players opening the entry URL
        self.api_limits: Limiter
        self.clip_limits: Limiter  # signing clips (web/signed_replay.py)
        if s.cluster.redis_url:
            from townhall.cluster.redis_connect import connect
            from townhall.store.redis_limits import RedisClientLimiter

            client = connect(s.cluster.redis_url, timeout_s=0.5)
            self.join_limits = RedisClientLimiter(client, "join", join_a, join_n)
            self.api_limits = RedisClientLimiter(client, "api", api_a, api_n)
            self.start_limits = RedisClientLimiter(client, "start", start_a, join_n)
            self.clip_limits = RedisClientLimiter(client, "clip", clip_a, clip_n)
        else:
            self.join_limits = LocalLimiter(ClientLimiter(join_a, join_n))
            self.api_limits = LocalLimiter(ClientLimiter(api_a, api_n))
            self.start_limits = LocalLimiter(ClientLimiter(start_a, join_n))
            self.clip_limits = LocalLimiter(ClientLimiter(clip_a, clip_n))
        self.reaction_limits = Gcra(Rate(s.limits.reaction_rate_per_address,
                                         s.limits.reaction_burst_per_address))
        # in attack mode, standard players (no page, no proof of work) are admitted per space
        # at this bounded rate instead of not at all (live/joins/player_tickets.py)
        self.player_limits = Gcra(Rate(s.overload.attack_players_per_s_per_space,
                                       s.overload.attack_players_burst_per_space), max_keys=100_000)
        self.pressure = Pressure(scaled_ceilings(s))
        self.counters: dict[str, int] = {
            "joins": 0, "admitted": 0, "queued": 0, "renewed": 0, "pow_required": 0,
            "pow_failed": 0, "rate_limited": 0, "media_ticketless": 0, "media_forged": 0,
            "media_expired": 0, "media_ok": 0, "admitted_anywhere": 0, "renewed_anywhere": 0,
            "grant_refused": 0, "revoked": 0, "seat_share_refused": 0, "room_full": 0,
            "player_entries": 0, "player_renewed": 0, "player_renewed_at_origin": 0,
            "player_seat_gone": 0,
            "player_attack_admitted": 0, "player_attack_refused": 0,
            # clip paths refused for their spelling before any budget (web/signed_replay.py)
            "clip_path_refused": 0}
        self.revoked: dict[str, set[str]] = {}  # space -> seats whose ticket was shared
        self.announce = announce  # a revoked shared ticket reaches every origin (live.news)

    # --- tickets on the media path ---
    def check_media(self, space_id: str, ticket: str | None, now: float) -> None:
        if ticket is None:
            if not self.settings.admission.require_tickets:
                return
            self.counters["media_ticketless"] += 1
            raise SpaceError(403, "ticket_required",
                             "media needs a ticket: POST /api/spaces/<id>/join first")
        verdict, seat = self.signer.check(space_id, ticket, now)
        if verdict is Check.VALID and seat in self.revoked.get(space_id, ()):
            raise SpaceError(403, "ticket_revoked", "this ticket was shared and revoked")
        if verdict is Check.VALID:
            self.counters["media_ok"] += 1
            return
        if verdict is Check.EXPIRED:
            self.counters["media_expired"] += 1
            raise SpaceError(403, "ticket_expired", "the ticket lapsed; renew it with /join")
        self.counters["media_forged"] += 1
        raise SpaceError(403, "bad_ticket", "the ticket is not valid for this space")

    # --- join ---
    async def over_join_budget(self, address: str, starts: bool = False) -> Answer | None:
        """The 429 answer (with Retry-After) if this address is over its join budget (with
        `starts`: its budget of standard players' starts)."""
        limits = self.start_limits if starts else self.join_limits
        ok, wait = await limits.allow(address, time.monotonic())
        if ok:
            return None
        self.counters["rate_limited"] += 1
        retry = max(1, int(wait + 0.999))
        return 429, {"error": "rate_limited",
                     "detail": f"too many joins; retry in {retry} s"}, {"Retry-After": str(retry)}

    async def join(self, space: LiveSpace, req: JoinRequest, now: float, *,
                   wait: bool = True, player: bool = False) -> tuple[int, dict[str, Any]]:
        """A ticket (200), a place in line (202), a proof of work to solve (428) or a
        refusal. `wait` False: a full room refuses (503) rather than queue. `player`: a
        standard player the caller admitted within its attack-mode rate (no proof asked)."""
        record = space.record
        if record.phase is Phase.ENDED:
            urls = space_urls(self.settings.listen.base_url, record)
            raise SpaceError(409, "space_ended",
                             "the space has ended" + (f"; replay at {urls['replay_url']}"
                                                      if urls["replay_url"] else ""))
        room = space.room
        if req.renew is not None:
            verdict, seat = self.signer.check(record.id, req.renew, now)
            if verdict in (Check.FORGED, Check.MALFORMED) or seat is None:
                raise SpaceError(403, "bad_ticket", "the ticket to renew is not valid here")
            self.check_holder(record.id, seat, req.seat_secret)
            renewed = await room.renew(seat, now, req.address)
            if renewed is not None:
                self.counters["renewed"] += 1
                return self._admitted(space, renewed, now)
            # the seat lapsed: join again like anyone else (below)
        elif req.token is not None:
            return self._outcome(space, await room.poll(req.token, now), now)

        # only admitted joins and solved proofs count toward attack mode (issue 18): a flood
        # of unsolved joins must not hold attack mode on, and standard players out with it
        self.counters["joins"] += 1
        counted = False
        if self.attack.active(now) and not player:
            refusal = self._check_pow(req, now)
            if refusal is not None:
                return refusal
            self.attack.joins.add(now)  # a solved proof
            counted = True
        out = await room.join(now, req.address, wait)
        if isinstance(out, Admitted) and not counted:
            self.attack.joins.add(now)
        return self._outcome(space, out, now)

    def check_holder(self, space_id: str, seat: str, secret: str | None) -> None:
        """Renewing or giving back a seat needs its secret; a revoked seat renews no more."""
        if not self.signer.holds(space_id, seat, secret):
            raise SpaceError(403, "seat_secret_required",
                             "renewing or leaving needs the seat_secret your join returned")
        if seat in self.revoked.get(space_id, ()):
            raise SpaceError(403, "ticket_revoked",
                             "this ticket was shared and has been revoked; join again")

    async def revoke(self, space: LiveSpace, seat: str, now: float) -> None:
        """A shared ticket: refused on renewal and on media (on every origin, through the
        cluster's news); seat freed."""
        self.revoked_elsewhere(space.record.id, seat)
        await space.room.leave(seat, now)
        self.listening.left(space.record.id, seat, now)
        self.counters["revoked"] += 1
        if self.announce is not None:
            self.announce("seat", f"{space.record.id}/{seat}")

    def revoked_elsewhere(self, space_id: str, seat: str) -> None:
        """Refuse this seat's ticket here from now on (revoked here or on another origin)."""
        revoked = self.revoked.setdefault(space_id, set())
        if len(revoked) < self.settings.admission.max_revoked_seats:
            revoked.add(seat)

    async def leave(self, space: LiveSpace, ticket: str, now: float,
                    seat_secret: str | None = None) -> str | None:
        """A listener closed the page: free the seat now rather than at lapse. Returns the
        seat the ticket held (None for a ticket that is not valid)."""
        verdict, seat = self.signer.check(space.record.id, ticket, now)
        if verdict is not Check.VALID or seat is None:
            return None
        self.check_holder(space.record.id, seat, seat_secret)
        await space.room.leave(seat, now)
        self.listening.left(space.record.id, seat, now)
        return seat

    def _check_pow(self, req: JoinRequest, now: float) -> tuple[int, dict[str, Any]] | None:
        difficulty = self.attack.difficulty(now)
        if req.challenge and req.solution:
            why = self.pow.verify(req.challenge, req.solution, now)
            if why is None:
                return None
            self.counters["pow_failed"] += 1
            detail = f"proof of work refused: {why}"
        else:
            detail = "the service is under attack: solve the challenge and join again"
        self.counters["pow_required"] += 1
        return 428, {"error": "proof_of_work_required", "detail": detail,
                     "challenge": self.pow.challenge(difficulty, now), "difficulty": difficulty}

    def _outcome(self, space: LiveSpace, out: Admitted | Queued | Unknown | Refused,
                 now: float) -> tuple[int, dict[str, Any]]:
        if isinstance(out, Admitted):
            self.counters["admitted"] += 1
            return self._admitted(space, out, now)
        if isinstance(out, Queued):
            self.counters["queued"] += 1
            return 202, {"status": "waiting", "token": out.token, "position": out.position,
                         "eta_s": out.eta_s, "poll_after_s": self._poll_after(),
                         "listener_cap": space.room.cap,
                         "detail": "the space is full; you keep your place while you poll. "
                                   "The replay is published when the space ends."}
        if isinstance(out, Refused):
            retry = max(1, int(out.retry_after_s + 0.999))
            if out.reason == "network_share":
                self.counters["seat_share_refused"] += 1
                return 429, {"error": "network_share", "retry_after_s": retry,
                             "detail": "your network already holds its share of this "
                                       f"space's seats; retry in {retry} s"}
            self.counters["room_full"] += 1
            return 503, {"error": "space_full", "retry_after_s": retry,
                         "detail": f"the space is full; retry in {retry} s"}
        raise SpaceError(404, "not_in_queue", out.reason)

    def _poll_after(self) -> float:
        return max(1.0, min(10.0, self.settings.admission.waiting_poll_grace_s / 4))

    def _admitted(self, space: LiveSpace, adm: Admitted,
                  now: float) -> tuple[int, dict[str, Any]]:
        return 200, self.ticket_answer(space.record.id, adm.seat, adm.expires, now)

    def ticket_answer(self, space_id: str, seat: str, expires: float,
                      now: float) -> dict[str, Any]:
        """What an admitted listener is told: the ticket, where to play, when to renew."""
        ticket = self.signer.issue(space_id, seat,
                                   ticket_expiry(expires, now,
                                                 self.settings.admission.ticket_grace_s))
        self.listening.seen(space_id, seat, now, ticket.expires)
        base = f"{self.settings.listen.base_url}/live/{space_id}/t/{ticket}"
        return {"status": "admitted", "seat": seat, "ticket": str(ticket),
                "seat_secret": self.signer.seat_secret(space_id, seat),
                "expires": iso(expires), "playlist_url": f"{base}/master.m3u8",
                "renew_after_s": round((ticket.expires - now) / 2, 1)}

    def metrics(self, now: float) -> dict[str, Any]:
        counters = dict(self.counters)
        # waiting-room calls answered without Redis (the "joins degrade" fallback)
        counters["room_without_redis"] = sum(sp.room.degraded for sp in self.spaces.all())
        rooms = [sp.room for sp in self.spaces.all()]
        counters["seats_confirmed"] = sum(r.confirmed_total for r in rooms)
        counters["seats_evicted"] = sum(r.evicted_total for r in rooms)
        return {"counters": counters,
                # seats held but not yet paid for (capped spaces; a shared room's count is
                # cluster-wide, the same on every origin): a gauge
                "seats_provisional": sum(r.provisional for r in rooms),
                "shed": {p.name.lower(): n for p, n in self.pressure.shed.items()},
                "lag_s": round(self.pressure.lag_s, 4), "in_flight": self.pressure.in_flight,
                "attack_mode": {"mode": self.attack.mode, "active": self.attack.active(now),
                                "difficulty": self.attack.difficulty(now),
                                "join_rate": self.attack.joins.rate(now),
                                "shed_rate": self.attack.sheds.rate(now)}}
