"""The space registry: every space this process knows, found by id; create and go live.

Service. Keeps every space's record in memory (written through to the store on the control
path) so that listener-facing reads never reach the database. What else happens to a space
has its own object beside this one, each given what it needs where the app is composed
(`web.app`): host keys (`live.registry.host_keys`), push sources
(`live.sources.push_sources`), where the program runs and how it is made (`live.program.host`,
`live.program.factory`), ending (`live.registry.space_ending`), write-behind saving
(`live.registry.space_saver`); the documents are the web layer's (`web.space_documents`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from townhall.admission.room import LocalRoom, Room
from townhall.admission.seat_count import Audience
from townhall.admission.waiting_room import WaitingRoom
from townhall.delivery.listeners import ListenerCounter
from townhall.live.errors import bad_key, not_found
from townhall.live.program.host import ProgramHost
from townhall.live.program.program import Program
from townhall.live.registry.host_keys import HostKeys
from townhall.live.registry.live_space import LiveSpace
from townhall.live.registry.space_saver import SpaceSaver
from townhall.settings import Settings
from townhall.space.lifecycle import Phase, Trigger, next_phase
from townhall.space.space_record import SpaceRecord, hash_key, new_host_key, new_space_id
from townhall.store.base import RecordingStore, SpaceStore

__all__ = ["LiveSpace", "Spaces"]

log = logging.getLogger("townhall.spaces")


class Spaces:
    def __init__(self, settings: Settings, store: SpaceStore, recordings: RecordingStore, *,
                 keys: HostKeys, programs: ProgramHost,
                 rooms: Callable[[str, WaitingRoom], Room] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.store = store
        self.recordings = recordings
        self.keys = keys
        self.programs = programs
        # a space's room from this process's one: itself, or shared (Cluster.room)
        self.rooms: Callable[[str, WaitingRoom], Room] = rooms or (lambda _id, r: LocalRoom(r))
        self.clock = clock
        self._spaces: dict[str, LiveSpace] = {}
        for record in store.load_all():
            self._spaces[record.id] = self._wrap(record)
        self.saver = SpaceSaver(store, self.all, self.listeners_now,
                                retry_s=settings.store.store_retry_s)
        # the listeners that origins admitted with join grants, as they report them
        self.audience: dict[str, Audience] = {}
        self._missing: dict[str, float] = {}  # ids the store did not have, and when asked
        self._rechecked: dict[str, float] = {}  # spaces whose record was re-read, and when

    @property
    def clustered(self) -> bool:
        """Other origins share the store and run programs (decided where the app is made)."""
        return self.programs.clustered

    def _wrap(self, record: SpaceRecord) -> LiveSpace:
        s = self.settings
        local = WaitingRoom(record.listener_cap, s.admission.seat_ttl_s,
                            s.admission.waiting_poll_grace_s,
                            s.admission.max_waiting, seat_ttl_max=s.admission.seat_ttl_max_s,
                            renewals_per_s=s.admission.renewals_per_s_per_space,
                            provisional_s=s.admission.provisional_seat_s,
                            share_fraction=s.admission.seat_share_per_network,
                            share_floor=s.admission.seats_per_network_min)
        return LiveSpace(record, ListenerCounter(s.delivery.listener_window_s,
                                                 s.delivery.max_tracked_listeners),
                         self.rooms(record.id, local))

    def listeners_now(self, space: LiveSpace, now: float) -> int:
        if space.record.phase is Phase.ENDED:
            return 0
        if self.settings.admission.require_tickets:
            space.room.tick(now)
            audience = self.audience.get(space.record.id)
            occupied = space.room.occupied + (audience.total(now) if audience else 0)
            space.listeners.peak = max(space.listeners.peak, occupied)
            return occupied
        return space.listeners.count(now)

    def report_audience(self, space_id: str, origin: str, count: int, at: float) -> None:
        """`origin` holds `count` grant seats of this space (reported at `at`)."""
        audience = self.audience.get(space_id)
        if audience is None:
            audience = self.audience[space_id] = Audience(self.settings.admission.audience_fresh_s)
        audience.report(origin, count, at)

    # --- finding ---
    def known(self, space_id: str) -> LiveSpace | None:
        """A space this process holds (never asks the store)."""
        return self._spaces.get(space_id)

    def find(self, space_id: str) -> LiveSpace | None:
        space = self._spaces.get(space_id)
        if space is None and self.clustered:
            space = self._load(space_id)  # made by another origin
        return space

    def _load(self, space_id: str) -> LiveSpace | None:
        """A space another origin created, from the shared store (control path; an id the
        store lacks is not asked again for a second, so made-up ids cost one query each)."""
        now = self.clock()
        if now - self._missing.get(space_id, -10.0) < 1.0 or len(space_id) > 64:
            return None
        record = self.store.load(space_id)
        if record is None:
            if len(self._missing) > 10_000:
                self._missing.clear()
            self._missing[space_id] = now
            return None
        return self._spaces.setdefault(space_id, self._wrap(record))

    def get(self, space_id: str) -> LiveSpace:
        space = self.find(space_id)
        if space is None:
            raise not_found(space_id)
        return space

    def all(self) -> list[LiveSpace]:
        return list(self._spaces.values())

    def authorize(self, space_id: str, key: str | None) -> LiveSpace:
        space = self.get(space_id)
        if not self.keys.ok(space, key):
            raise bad_key()
        return space

    # --- other origins' changes ---
    def refresh(self, records: list[SpaceRecord]) -> None:
        """Records as the shared store has them now (other origins' creates, starts, ends)."""
        order = list(Phase)
        for record in records:
            space = self._spaces.get(record.id)
            if space is None:
                self._spaces[record.id] = self._wrap(record)
                continue
            mine = space.record
            if order.index(record.phase) > order.index(mine.phase):
                mine.phase, mine.actual_start = record.phase, record.actual_start
                mine.ended_at, mine.has_replay = record.ended_at, record.has_replay
                space.status = None
            mine.peak_listeners = max(mine.peak_listeners, record.peak_listeners)
            mine.captions = record.captions  # the host's switch, set on any origin

    def recheck(self, space: LiveSpace) -> None:
        """In a cluster, read a space's record again when another origin may have changed it
        (ended it, sealed its replay) since the last refresh: at most once a second per space,
        so asking for a replay that is not there yet costs one query a second. Blocking."""
        if not self.clustered:
            return
        now = self.clock()
        sid = space.record.id
        if now - self._rechecked.get(sid, -10.0) < 1.0:
            return
        if len(self._rechecked) > 10_000:
            self._rechecked.clear()
        self._rechecked[sid] = now
        record = self.store.load(sid)
        if record is not None:
            self.refresh([record])

    # --- lifecycle of the registry ---
    async def start(self) -> None:
        self.saver.start()

    async def close(self) -> None:
        await self.saver.close()
        for space in self._spaces.values():
            if space.ingest is not None:
                space.ingest.stop()
            if space.program is not None:
                # what was published must be on disk before the process goes
                await asyncio.wait_for(space.program.suspend(), 10)

    # --- control ---
    async def create(self, title: str, host: str, scheduled_start: float | None,
                     listener_cap: int | None) -> tuple[LiveSpace, str]:
        key = new_host_key()
        space_id = new_space_id(self.settings.cluster.origin_tag)
        while space_id in self._spaces:
            space_id = new_space_id(self.settings.cluster.origin_tag)
        record = SpaceRecord(id=space_id, title=title, host=host, host_key_hash=hash_key(key),
                             created_at=time.time(), scheduled_start=scheduled_start,
                             listener_cap=listener_cap)
        await asyncio.to_thread(self.store.save, record)
        space = self._wrap(record)
        self._spaces[space_id] = space
        return space, key

    def go_live(self, space: LiveSpace, name: str, prebuffer: int | None = None,
                ceiling: int | None = None, high: int | None = None) -> Program | None:
        """Mix a new source into the space's program (going live on the first); None if the
        space has ended."""
        if space.record.phase is Phase.ENDED:
            return None
        program = self.programs.program_for(space)
        program.attach(name, prebuffer, ceiling, high)
        if space.record.phase is not Phase.LIVE:
            space.record.phase = next_phase(space.record.phase, Trigger.GO_LIVE)
            space.record.actual_start = time.time()
            space.status = None
            self.saver.save_soon(space)
            log.info("space %s is live", space.record.id, extra={"space_id": space.record.id})
        return program
