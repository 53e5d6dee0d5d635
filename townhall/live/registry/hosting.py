"""Hosting identity: who may create a space and put it on air, and the quotas they live by.

Service. Turns a Bearer credential into an `Identity` (the operator's admin key, or an
operator-issued API key from the `KeyStore`), remembers which identity owns each space, and
refuses (with `SpaceError`) a create or a go-live past the quotas of `admission.hosting_quota`
or from a revoked key. It also expires spaces that never went live. Never on the listener
path: creates, go-lives and key management only.

Program slots are paid with audio, not with a connection: a space counts toward the live
ceiling once its program is on air or a source's audio has decoded (`valued`); a source that
connected with the key but sent nothing that decodes is *provisional*: it costs no slot, is
cut off after `ingest_provisional_s`, and the oldest provisional source is cut off first when
more than `ingest_provisional_max` are waiting. The ceiling itself is measured
(admission.program_capacity: no new program while the programs' lag is over budget), and
the last `live_programs_reserved` slots are the operator's (admin key; its waiting source is
also cut off last, and its WHIP offers have reserved sessions: `operators`). The count is checked
when a source connects and again when its first audio decodes, so many sources arriving at
once cannot all pass the ceiling.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from townhall.admission.hosting_quota import HOUR_S, HostingQuota, Refusal
from townhall.admission.program_capacity import ProgramCapacity
from townhall.live import tasks
from townhall.live.errors import SpaceError
from townhall.live.registry.spaces import LiveSpace, Spaces
from townhall.live.sources.push_sources import cut_off
from townhall.ops.metrics import WHIP_SESSIONS_EVICTED
from townhall.settings import Settings
from townhall.space.lifecycle import Phase
from townhall.store.base import StoreUnavailable
from townhall.store.keys import ApiKey, KeyStore, hash_api_key, new_api_key

log = logging.getLogger("townhall.hosting")
ADMIN = "admin"  # the owner name of spaces made with the operator's admin key


@dataclass(frozen=True)
class Identity:
    owner: str  # "admin" or an API key's id
    role: str  # "admin" or "host"

    @property
    def admin(self) -> bool:
        return self.role == "admin"


def valued(space: LiveSpace) -> bool:
    """On air for the ceiling: its program runs, a source's audio has decoded, or a speaker's
    WebRTC audio has arrived. A connection alone is not value (7 keys holding head-only
    connections once locked the operator out; WHIP sessions that never send audio are the
    same attack over WebRTC)."""
    return bool((space.program is not None and space.program.on_air)
                or (space.ingest is not None and not space.ingest.closed
                    and space.ingest.started)
                or (space.speakers is not None and space.speakers.heard))


def provisional(space: LiveSpace) -> bool:
    """A source connected with the key (a push, or a WHIP session) but no audio has arrived."""
    if valued(space):
        return False
    pushing = space.ingest is not None and not space.ingest.closed
    return pushing or bool(space.speakers is not None and space.speakers.waiting)


def cut_off_provisional(space: LiveSpace, reason: str) -> int:
    """Cut off the space's sources that sent no audio yet: the push source at once, each WHIP
    session by the speakers' watchdog (within a quarter second). Returns how many."""
    n = 0
    if space.ingest is not None and not space.ingest.closed and not space.ingest.started:
        n += cut_off(space, reason)
    if space.speakers is not None:
        for session in space.speakers.waiting:
            if session.cut_off is None:
                session.cut_off = reason
                WHIP_SESSIONS_EVICTED.labels(reason).inc()
                n += 1
    return n


def _refused(r: Refusal) -> SpaceError:
    return SpaceError(r.status, r.code, r.detail, retry_after=r.retry_after)


class Hosting:
    def __init__(self, settings: Settings, keys: KeyStore, spaces: Spaces) -> None:
        s = settings
        self.settings = settings
        self.keys = keys
        self.spaces = spaces
        self.quota = HostingQuota(s.hosting.spaces_per_hour_per_key,
                                  s.hosting.spaces_per_hour_per_origin,
                                  s.hosting.live_spaces_per_key, s.hosting.live_programs_per_origin)
        self.capacity = ProgramCapacity(s.hosting.live_programs_per_origin,
                                        s.hosting.program_lag_budget_s,
                                        s.hosting.program_lag_window_s,
                                        s.hosting.live_programs_reserved)
        self._owners = keys.owners()
        self._waiting: dict[str, float] = {}  # provisional space id -> since (monotonic)
        self.refused = 0  # creates and go-lives refused, for the operator's metrics
        self.expired = 0
        self._sweeper: asyncio.Task[None] | None = None
        self._sampler: asyncio.Task[None] | None = None

    # --- identity ---
    def identify(self, bearer: str | None) -> Identity | None:
        if not bearer:
            return None
        admin_key = self.settings.ops.admin_key
        if admin_key and hmac.compare_digest(bearer.encode(), admin_key.encode()):
            return Identity(ADMIN, "admin")
        key = self.keys.by_hash(hash_api_key(bearer))
        if key is None or not key.active:
            return None
        return Identity(key.id, key.role)

    def require(self, bearer: str | None, *, admin: bool = False) -> Identity:
        who = self.identify(bearer)
        if who is None:
            raise SpaceError(401, "hosting_key_required",
                             "hosting needs an API key as 'Authorization: Bearer KEY' (the "
                             "operator's data/admin.key, or one from 'townhall keys create')")
        if admin and not who.admin:
            raise SpaceError(403, "not_allowed", "only an admin key manages keys")
        return who

    # --- spaces ---
    async def check_create(self, who: Identity, now: float) -> None:
        shared = None
        if not who.admin:  # the key's creations on every origin sharing the store
            try:
                shared = await asyncio.to_thread(self.keys.created_since, who.owner,
                                                 now - HOUR_S)
            except StoreUnavailable:
                shared = None  # this origin's own count until the store answers
        refusal = self.quota.check_create(who.owner, who.admin, now, shared)
        if refusal is not None:
            self.refused += 1
            raise _refused(refusal)

    async def created(self, who: Identity, space_id: str, now: float) -> None:
        self.quota.created(who.owner, now)
        self._owners[space_id] = who.owner
        await asyncio.to_thread(self.keys.record_space, space_id, who.owner, now)

    def owner_of(self, space_id: str) -> str:
        owner = self._owners.get(space_id)
        if owner is None:  # created on another origin of the cluster (the store is shared)
            owner = self.keys.owner(space_id)
            if owner is None:
                return ADMIN  # spaces from before keys: the operator's
            self._owners[space_id] = owner
        return owner

    def owns(self, who: Identity, space_id: str) -> bool:
        return who.admin or self.owner_of(space_id) == who.owner

    def operators(self, space: LiveSpace) -> bool:
        """Whether the space is the operator's (made with the admin key): its sources may
        take the reserved program slots, and its host and invited speakers the reserved
        WHIP sessions (live.stage.speakers). The store away: not known to be, so not."""
        return self._operators(space.record.id)

    def _operators(self, space_id: str) -> bool:
        try:
            return self.owner_of(space_id) == ADMIN
        except StoreUnavailable:
            return False

    def admit_source(self, space: LiveSpace) -> None:
        """Called before a source is attached: refuse it if it would put one more space on
        air past the quotas, or if the key that created the space has been revoked. The
        source is provisional until its audio decodes (`admit_audio` checks again then)."""
        owner = self.check_owner(space)
        if valued(space) or provisional(space):
            return  # a reconnecting host or another speaker costs no program
        self._check_live(space, owner)
        self._make_room(space)

    def admit_audio(self, space: LiveSpace) -> None:
        """A source's first audio decoded: now it takes a program slot, if one is free."""
        self._waiting.pop(space.record.id, None)
        if space.program is not None and space.program.on_air:
            return
        self._check_live(space, self.check_owner(space))

    def _check_live(self, space: LiveSpace, owner: str) -> None:
        on_air = [sp for sp in self.spaces.all() if sp is not space and valued(sp)]
        verdict = self.capacity.admit(len(on_air), owner == ADMIN, time.monotonic())
        refusal: Refusal | None = None
        if not verdict.admitted:
            refusal = Refusal(503, verdict.code, verdict.detail, 30.0 if verdict.code ==
                              "origin_full" else 5.0)
        else:
            mine = sum(1 for sp in on_air if self.owner_of(sp.record.id) == owner)
            refusal = self.quota.check_live(owner == ADMIN, mine, 0)
        if refusal is not None:
            self.refused += 1
            log.warning("space %s may not go live: %s", space.record.id, refusal.detail)
            raise _refused(refusal)

    def _make_room(self, space: LiveSpace) -> None:
        """Bound the provisional sources: past `ingest_provisional_max` of them, the oldest
        is cut off (it had its chance to send audio)."""
        now = time.monotonic()
        self._forget_settled()
        while len(self._waiting) >= self.settings.ingest.ingest_provisional_max:
            # the operator's own waiting source is cut off last (reserved, as its slots)
            others = [sid for sid in self._waiting if not self._operators(sid)]
            oldest = min(others or self._waiting, key=self._waiting.__getitem__)
            del self._waiting[oldest]
            self._cut_off_provisional(oldest, "evicted_no_audio")
        self._waiting[space.record.id] = now

    def _forget_settled(self) -> None:
        for sid in list(self._waiting):
            sp = self.spaces.find(sid)
            if sp is None or not provisional(sp):
                del self._waiting[sid]

    def _cut_off_provisional(self, space_id: str, reason: str, *, whip: bool = True) -> None:
        sp = self.spaces.find(space_id)
        if sp is None or not provisional(sp):
            return
        n = cut_off_provisional(sp, reason) if whip else int(cut_off(sp, reason))
        if n:
            self.refused += 1
            log.warning("space %s: %d source(s) sent no audio that decodes; cut off (%s)",
                        space_id, n, reason)

    def expire_provisional(self, now: float) -> None:
        """Cut off push sources that stayed provisional past `ingest_provisional_s` (a WHIP
        session has its own deadline, `whip_setup_timeout_s`: ICE and DTLS come first)."""
        self._forget_settled()
        limit = self.settings.ingest.ingest_provisional_s
        for sid, since in list(self._waiting.items()):
            sp = self.spaces.find(sid)
            if now - since > limit and sp is not None and sp.ingest is not None:
                self._cut_off_provisional(sid, "no_audio", whip=False)
                if not provisional(sp):
                    del self._waiting[sid]

    def observe_lag(self, now: float) -> None:
        """One sample of the programs' lag, for the measured ceiling."""
        lags = [sp.program.lag_s for sp in self.spaces.all()
                if sp.program is not None and sp.program.on_air]
        self.capacity.observe(max(lags, default=0.0), now)

    def check_owner(self, space: LiveSpace) -> str:
        """The space's owner, if its key still stands (a revoked key's spaces neither go live
        nor invite); raises SpaceError 403 otherwise."""
        owner = self.owner_of(space.record.id)
        if owner != ADMIN:
            key = self.keys.by_id(owner)
            if key is None or not key.active:
                self.refused += 1
                raise SpaceError(403, "key_revoked", "the API key that created this space has "
                                                     "been revoked; it cannot go live or invite")
        return owner

    # --- keys ---
    def issue(self, name: str, role: str) -> tuple[ApiKey, str]:
        try:
            record, key = new_api_key(name, role, time.time())
        except ValueError as exc:
            raise SpaceError(422, "invalid_request", str(exc)) from None
        self.keys.add(record)
        return record, key

    def revoke(self, key_id: str) -> ApiKey:
        record = self.keys.revoke(key_id, time.time())
        if record is None:
            raise SpaceError(404, "key_not_found", f"no API key with id {key_id!r}")
        return record

    # --- expiry of spaces that never went live ---
    def start(self, end: Callable[[LiveSpace], Awaitable[object]]) -> None:
        loop = asyncio.get_running_loop()
        self._sweeper = loop.create_task(self._sweep(end))
        self._sampler = loop.create_task(self._sample())

    async def close(self) -> None:
        await tasks.cancel(self._sweeper, self._sampler)

    async def _sample(self) -> None:
        """The measured ceiling's lag samples, and the provisional sources' deadline."""
        period = self.settings.hosting.program_lag_sample_s
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            self.observe_lag(now)
            self.expire_provisional(now)

    def unused(self, now: float) -> list[LiveSpace]:
        limit = self.settings.hosting.unused_space_expiry_s
        out = []
        for sp in self.spaces.all():
            r = sp.record
            if r.phase is Phase.SCHEDULED and sp.program is None and sp.ingest is None:
                since = max(r.created_at, r.scheduled_start or 0.0)
                if now - since > limit:
                    out.append(sp)
        return out

    async def _sweep(self, end: Callable[[LiveSpace], Awaitable[object]]) -> None:
        period = max(1.0, min(60.0, self.settings.hosting.unused_space_expiry_s / 4))
        while True:
            await asyncio.sleep(period)
            for space in self.unused(time.time()):
                try:
                    await end(space)
                except SpaceError:
                    continue
                self.expired += 1
                log.info("space %s expired: never went live", space.record.id)
