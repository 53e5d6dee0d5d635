"""The space registry: create, find, go live, end; builds the details documents.

Service. Keeps every space's record in memory (written through to the store on the control
path) so that listener-facing reads never reach the database.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from townhall.admission.room import LocalRoom, Room
from townhall.admission.seat_count import Audience
from townhall.admission.waiting_room import WaitingRoom
from townhall.delivery.listeners import ListenerCounter
from townhall.live.descriptors import DescriptorReserve
from townhall.live.errors import SpaceError, bad_key, not_found
from townhall.live.ingest import IngestSession
from townhall.live.program import Program
from townhall.live.speakers import SpaceSpeakers, stage_status
from townhall.recording.recorder import Recorder, recover
from townhall.recording.signing import ALGORITHM, SigningIdentity
from townhall.settings import Settings
from townhall.space.lifecycle import LifecycleError, Phase, Trigger, next_phase, shown_state
from townhall.space.reactions import Reactions
from townhall.space.record import (
    SpaceRecord,
    hash_key,
    iso,
    key_matches,
    new_host_key,
    new_space_id,
)
from townhall.store.base import RecordingStore, SpaceStore, StoreUnavailable

log = logging.getLogger("townhall.spaces")


@dataclass
class LiveSpace:
    record: SpaceRecord
    listeners: ListenerCounter
    room: Room
    reactions: Reactions = field(default_factory=Reactions)
    status: tuple[float, bytes] | None = None  # (rendered at, JSON bytes): the details cache
    program: Program | None = None
    ingest: IngestSession | None = None
    ingest_seq: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    speakers: SpaceSpeakers | None = None  # the stage and WHIP sessions, once anyone uses it
    # in a cluster, the stage as the origin running the program posted it (live.shared_stage):
    # (read at, monotonic; the stage part of the details)
    shared_stage: tuple[float, dict[str, Any]] | None = None
    takeovers: int = 0  # times a newer source with the key replaced the one on air
    last_takeover: float | None = None
    key_read: float = float("-inf")  # when the host key hash was last read from the store


class Spaces:
    def __init__(self, settings: Settings, store: SpaceStore, recordings: RecordingStore,
                 rooms: Callable[[str, WaitingRoom], Room] | None = None) -> None:
        self.settings = settings
        # a space's room from this process's one: itself, or shared (Cluster.room)
        self.rooms: Callable[[str, WaitingRoom], Room] = rooms or (lambda _id, r: LocalRoom(r))
        self.store = store
        self.recordings = recordings
        self._spaces: dict[str, LiveSpace] = {}
        self.identity: SigningIdentity | None = None  # the deployment's key (create_app sets it)
        for record in store.load_all():
            self._spaces[record.id] = self._wrap(record)
        self._persist_task: asyncio.Task[None] | None = None
        # records changed off a request's path (going live, peaks), written by one task that
        # retries while the store is unreachable: the latest state lands once it is back
        self._unsaved: set[str] = set()
        self._saving = asyncio.Event()
        self._writer_task: asyncio.Task[None] | None = None
        # awaited as a space ends, before its program stops (the speakers' sessions close)
        self.on_end: list[Callable[[LiveSpace], Awaitable[None]]] = []
        # a join grant for the details document (set by the any-origin admissions), and the
        # listeners that origins admitted with grants, as they report them
        self.join_grant: Callable[[LiveSpace, int, float], str | None] | None = None
        # the latency tier announced to new joiners (townhall.delivery.latency_tier), set by
        # the app, which knows the origin's pressure
        self.latency_tier: Callable[[LiveSpace, int, float], dict[str, str]] | None = None
        self.audience: dict[str, Audience] = {}
        # push sources' audio not heard as sent, summed over the sources that left (seconds)
        self.ingest_losses: dict[str, float] = {"seconds_dropped": 0.0, "seconds_skipped": 0.0,
                                                "seconds_caught_up": 0.0}
        # asked before a source is attached to a space (hosting quotas); raises SpaceError
        self.admit_source: Callable[[LiveSpace], None] | None = None
        # a source's first audio decoded: may it take a program slot? (SpaceError if not)
        self.admit_audio: Callable[[LiveSpace], None] | None = None
        # descriptors kept for the recorders, borrowed when the table is full (set at start)
        self.descriptor_reserve: DescriptorReserve | None = None
        # in a cluster (live.program_leases): told of each program made here, and ends them
        self.on_program: Callable[[LiveSpace, Program], None] | None = None
        self.end_program: Callable[[LiveSpace], Awaitable[None]] | None = None
        self._missing: dict[str, float] = {}  # ids the store did not have, and when asked
        # several origins share the store: a host key hash is re-read (key_check_ttl_s), and
        # rotations and new sources are told to the other origins (live.key_watch sets it)
        self.shared = bool(settings.redis_url or settings.database_url)
        self.announce: Callable[[str, str], None] | None = None
        # awaited when the space's host key changed (here or on another origin): the host's
        # sessions that used the old key end
        self.on_key_rotated: list[Callable[[LiveSpace], Awaitable[None]]] = []
        self._rechecked: dict[str, float] = {}  # spaces whose record was re-read, and when

    def _wrap(self, record: SpaceRecord) -> LiveSpace:
        s = self.settings
        local = WaitingRoom(record.listener_cap, s.seat_ttl_s, s.waiting_poll_grace_s,
                            s.max_waiting, seat_ttl_max=s.seat_ttl_max_s,
                            renewals_per_s=s.renewals_per_s_per_space)
        return LiveSpace(record, ListenerCounter(s.listener_window_s, s.max_tracked_listeners),
                         self.rooms(record.id, local))

    def listeners_now(self, space: LiveSpace, now: float) -> int:
        if space.record.phase is Phase.ENDED:
            return 0
        if self.settings.require_tickets:
            space.room.tick(now)
            audience = self.audience.get(space.record.id)
            occupied = space.room.occupied + (audience.total(now) if audience else 0)
            space.listeners.peak = max(space.listeners.peak, occupied)
            return occupied
        return space.listeners.count(now)

    def find(self, space_id: str) -> LiveSpace | None:
        space = self._spaces.get(space_id)
        if space is None and self.on_program is not None:
            space = self._load(space_id)  # in a cluster: made by another origin
        return space

    def _load(self, space_id: str) -> LiveSpace | None:
        """A space another origin created, from the shared store (control path; an id the
        store lacks is not asked again for a second, so made-up ids cost one query each)."""
        now = time.monotonic()
        if now - self._missing.get(space_id, -10.0) < 1.0 or len(space_id) > 64:
            return None
        record = self.store.load(space_id)
        if record is None:
            if len(self._missing) > 10_000:
                self._missing.clear()
            self._missing[space_id] = now
            return None
        return self._spaces.setdefault(space_id, self._wrap(record))

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

    def recheck(self, space: LiveSpace) -> None:
        """In a cluster, read a space's record again when another origin may have changed it
        (ended it, sealed its replay) since the last refresh: at most once a second per space,
        so asking for a replay that is not there yet costs one query a second. Blocking."""
        if self.on_program is None:
            return
        now = time.monotonic()
        sid = space.record.id
        if now - self._rechecked.get(sid, -10.0) < 1.0:
            return
        if len(self._rechecked) > 10_000:
            self._rechecked.clear()
        self._rechecked[sid] = now
        record = self.store.load(sid)
        if record is not None:
            self.refresh([record])

    def standby_for(self, space: LiveSpace) -> Program:
        """A standby program for a space live on another origin (adopted by the leases)."""
        return self._program_for(space)

    def report_audience(self, space_id: str, origin: str, count: int, at: float) -> None:
        """`origin` holds `count` grant seats of this space (reported at `at`)."""
        audience = self.audience.get(space_id)
        if audience is None:
            audience = self.audience[space_id] = Audience(self.settings.audience_fresh_s)
        audience.report(origin, count, at)

    def status_bytes(self, space: LiveSpace, now: float) -> bytes:
        """The details document, rendered at most once per refresh interval per space."""
        cached = space.status
        if cached is not None and now - cached[0] < self.settings.status_refresh_s:
            return cached[1]
        body = json.dumps(self.details(space, now), ensure_ascii=False).encode()
        space.status = (now, body)
        return body

    # --- lifecycle of the registry ---
    async def start(self) -> None:
        self._persist_task = asyncio.get_running_loop().create_task(self._persist_peaks())
        self._writer_task = asyncio.get_running_loop().create_task(self._write_records())

    async def close(self) -> None:
        if self._persist_task:
            self._persist_task.cancel()
        if self._writer_task:
            self._writer_task.cancel()
        for sid in list(self._unsaved):  # one last try; a record left unsaved is logged
            try:
                await asyncio.to_thread(self.store.save, self._spaces[sid].record)
            except StoreUnavailable:
                log.warning("space %s: its last changes could not be stored", sid,
                            extra={"space_id": sid})
        for space in self._spaces.values():
            if space.ingest is not None:
                space.ingest.stop()
            if space.program is not None:
                # what was published must be on disk before the process goes
                await asyncio.wait_for(space.program.suspend(), 10)


    async def _persist_peaks(self) -> None:
        while True:
            await asyncio.sleep(10)
            now = time.time()
            for space in list(self._spaces.values()):
                self.listeners_now(space, now)  # updates the peak
                peak = space.listeners.peak
                if space.record.phase is Phase.LIVE and peak > space.record.peak_listeners:
                    space.record.peak_listeners = peak
                    self.save_soon(space)

    def save_soon(self, space: LiveSpace) -> None:
        """Write the space's record in the background (retried until the store takes it)."""
        self._unsaved.add(space.record.id)
        self._saving.set()

    async def _write_records(self) -> None:
        while True:
            await self._saving.wait()
            self._saving.clear()
            for sid in list(self._unsaved):
                self._unsaved.discard(sid)
                try:
                    await asyncio.to_thread(self.store.save, self._spaces[sid].record)
                except StoreUnavailable:
                    self._unsaved.add(sid)
            if self._unsaved:
                await asyncio.sleep(self.settings.store_retry_s or 1.0)
                self._saving.set()

    # --- control ---
    async def create(self, title: str, host: str, scheduled_start: float | None,
                     listener_cap: int | None) -> tuple[LiveSpace, str]:
        key = new_host_key()
        space_id = new_space_id(self.settings.origin_tag)
        while space_id in self._spaces:
            space_id = new_space_id(self.settings.origin_tag)
        record = SpaceRecord(id=space_id, title=title, host=host, host_key_hash=hash_key(key),
                             created_at=time.time(), scheduled_start=scheduled_start,
                             listener_cap=listener_cap)
        await asyncio.to_thread(self.store.save, record)
        space = self._wrap(record)
        self._spaces[space_id] = space
        return space, key

    def get(self, space_id: str) -> LiveSpace:
        space = self.find(space_id)
        if space is None:
            raise not_found(space_id)
        return space

    def all(self) -> list[LiveSpace]:
        return list(self._spaces.values())

    def authorize(self, space_id: str, key: str | None) -> LiveSpace:
        space = self.get(space_id)
        if not self.key_ok(space, key):
            raise bad_key()
        return space

    def key_ok(self, space: LiveSpace, key: str | None) -> bool:
        """Whether `key` is the space's host key now. With a shared store the hash is the
        store's, read at most `key_check_ttl_s` ago (and again at once after a rotation was
        announced); blocking, control path only. Store away: a hash read within
        `key_stale_max_s` and not announced changed still counts, else SpaceError 503."""
        if not key:
            return False
        if self.shared:
            self._fresh_key_hash(space)
        return key_matches(key, space.record.host_key_hash)

    def _fresh_key_hash(self, space: LiveSpace) -> None:
        s = self.settings
        now = time.monotonic()
        if now - space.key_read < s.key_check_ttl_s:
            return
        try:
            stored = self.store.key_hash(space.record.id)
        except StoreUnavailable:
            if now - space.key_read < s.key_stale_max_s:
                return
            raise SpaceError(503, "store_unavailable", "the database is unreachable for a "
                             "moment; try again shortly",
                             retry_after=s.store_retry_after_s) from None
        if stored is not None:
            space.record.host_key_hash = stored
        space.key_read = now

    async def key_rotated_elsewhere(self, space_id: str) -> None:
        """Another origin rotated the space's host key: forget the hash, cut off the source
        and end the host's sessions that used the old key here."""
        space = self._spaces.get(space_id)
        if space is None:
            return
        space.key_read = float("-inf")
        self.cut_off(space, "key_rotated")
        for hook in self.on_key_rotated:
            await hook(space)

    def taken_over_elsewhere(self, space_id: str) -> None:
        """A newer source with the key went on air on another origin: the one here goes."""
        space = self._spaces.get(space_id)
        session = space.ingest if space is not None else None
        if session is None or not session.started:
            return  # none here, or one not yet sending audio: that one is newer still
        if space is not None and self.cut_off(space, "taken_over"):
            self.count_takeover(space)

    def count_takeover(self, space: LiveSpace, *, tell_others: bool = True) -> None:
        """A newer source replaced the one on air (here, or told by another origin): the
        host view's count, the same on every origin."""
        space.takeovers += 1
        space.last_takeover = time.time()
        if tell_others and self.announce is not None:
            self.announce("takeover", space.record.id)

    def takeover_elsewhere(self, space_id: str) -> None:
        space = self._spaces.get(space_id)
        if space is not None:
            self.count_takeover(space, tell_others=False)

    async def end(self, space_id: str, key: str | None) -> LiveSpace:
        return await self.finish(self.authorize(space_id, key))

    async def finish(self, space: LiveSpace) -> LiveSpace:
        """End a space (its host asked, or it expired unused)."""
        # ending cannot be undone: while the store is unreachable, refuse (503) before
        # stopping anything, rather than end a space whose record and seal cannot be written
        await asyncio.to_thread(self.store.ping)
        await asyncio.to_thread(self.recordings.ping)
        async with space.lock:
            try:
                phase = next_phase(space.record.phase, Trigger.END)
            except LifecycleError as exc:
                raise SpaceError(409, "already_ended", str(exc)) from None
            if space.ingest is not None:
                space.ingest.stop()
            for hook in self.on_end:
                await hook(space)
            record = space.record
            if space.program is None and self.on_program is not None:
                self._program_for(space)  # a cluster: a standby of the program, wherever it is
            elif space.program is None and await asyncio.to_thread(
                    self.recordings.has_recording, record.id):
                # aired before a restart: seal what it published
                await asyncio.to_thread(self._program_for, space)
            if space.program is not None:
                if self.end_program is not None:
                    await self.end_program(space)  # where the program runs, in a cluster
                else:
                    await space.program.end()
                record.has_replay = bool(space.program.recorder.manifest
                                         and space.program.recorder.manifest.segments)
            record.phase = phase
            record.ended_at = time.time()
            space.status = None
            record.peak_listeners = max(record.peak_listeners, space.listeners.peak)
            await asyncio.to_thread(self.store.save, record)
        log.info("space %s ended (replay: %s)", record.id, record.has_replay,
                 extra={"space_id": record.id})
        return space

    # --- ingest ---
    def open_ingest(self, space_id: str, key: str | None) -> IngestSession:
        space = self.authorize(space_id, key)
        if space.record.phase is Phase.ENDED:
            raise SpaceError(409, "space_ended", "the space has ended; create a new one")
        if space.program is None:
            # its program starts from what the store holds (a space resumed after a crash
            # continues its recording): while the store is unreachable, the source retries
            try:
                self.recordings.ping()
            except StoreUnavailable:
                raise SpaceError(503, "store_unavailable", "the database is unreachable for "
                                 "a moment; reconnect in a few seconds") from None
        if self.admit_source is not None:  # hosting quotas, on every origin (cluster too)
            self.admit_source(space)
        space.ingest_seq += 1
        session = IngestSession(f"{space_id}-push-{space.ingest_seq}", self.settings,
                                on_audio_start=lambda s: self._source_started(space, s),
                                on_pcm=lambda s, pcm: self._source_pcm(space, s, pcm),
                                on_end=lambda s: self._source_ended(space, s))
        if space.ingest is None or space.ingest.closed:
            space.ingest = session
        # else a newer connection with the key: it takes over only once it sends audio that
        # decodes (_source_started), so a malformed head or a silent socket cannot kick the
        # host off
        return session

    async def rotate_key(self, space: LiveSpace) -> str:
        """A new host key; the old one stops working at once (a leaked key is useless)."""
        key = new_host_key()
        old, new = space.record.host_key_hash, hash_key(key)
        # compare-and-set: of two rotations at once on two origins, one wins
        if not await asyncio.to_thread(self.store.replace_key_hash, space.record.id, old, new):
            space.key_read = float("-inf")
            raise SpaceError(409, "key_changed", "the host key was changed meanwhile (on "
                             "another origin); use the current key")
        space.record.host_key_hash = new
        space.key_read = time.monotonic()
        if self.announce is not None:
            self.announce("host_key", space.record.id)
        self.cut_off(space, "key_rotated")
        for hook in self.on_key_rotated:
            await hook(space)
        return key

    def cut_off(self, space: LiveSpace, reason: str) -> bool:
        """Stop the source on air (the host rotated the key); True if there was one."""
        session = space.ingest
        if session is None or session.closed:
            return False
        session.ended_by = reason
        session.stop()
        return True

    def _program_for(self, space: LiveSpace) -> Program:
        if space.program is None:
            sid = space.record.id
            reserve = self.descriptor_reserve
            recorder = Recorder(self.recordings, sid, self.settings.secret,
                                identity=self.identity,
                                checkpoint_every=self.settings.checkpoint_every_segments,
                                reserve=reserve.borrow if reserve is not None else None,
                                finish_timeout_s=self.settings.recording_finish_timeout_s)
            manifest = recover(self.recordings, sid)
            first_msn, decode_time = 0, 0
            if manifest is not None and manifest.segments:
                # this origin restarted mid-space: continue after what was already published
                recorder.manifest = manifest
                first_msn = manifest.segments[-1].msn + 1
                decode_time = round(manifest.duration * self.settings.sample_rate)
            space.program = Program(self.settings, recorder, first_msn=first_msn,
                                    first_decode_time=decode_time, resumed=first_msn > 0)
            init = self.recordings.init(sid) if manifest is not None else None
            if manifest is not None and manifest.segments and init is not None:
                space.program.init = init
                space.program.window.init = init
            if self.on_program is not None:
                self.on_program(space, space.program)
        return space.program

    def _source_started(self, space: LiveSpace, session: IngestSession) -> None:
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
                old.ended_by = "taken_over"
                old.stop()
                self.count_takeover(space)
            space.ingest = session
        if self.announce is not None:  # a source on another origin is the older one: it goes
            self.announce("source", space.record.id)
        s = self.settings
        ms = s.sample_rate // 1000
        high = s.ingest_buffer_ms * ms  # a push source is paced: it waits, it is never trimmed
        program = self.go_live(space, session.name, s.jitter_prebuffer_ms * ms,
                               high + s.ingest_overshoot_ms * ms, high)
        if program is not None:
            buffer = program.mixer.sources[session.name].buffer
            session.level = lambda: buffer.buffered
            session.buffer = buffer

    def go_live(self, space: LiveSpace, name: str, prebuffer: int | None = None,
                ceiling: int | None = None, high: int | None = None) -> Program | None:
        """Mix a new source into the space's program (going live on the first); None if the
        space has ended."""
        if space.record.phase is Phase.ENDED:
            return None
        program = self._program_for(space)
        program.attach(name, prebuffer, ceiling, high)
        if space.record.phase is not Phase.LIVE:
            space.record.phase = next_phase(space.record.phase, Trigger.GO_LIVE)
            space.record.actual_start = time.time()
            space.status = None
            self.save_soon(space)
            log.info("space %s is live", space.record.id, extra={"space_id": space.record.id})
        return program

    def _source_pcm(self, space: LiveSpace, session: IngestSession,
                    pcm: npt.NDArray[np.float32]) -> None:
        if space.program is not None and space.ingest is session:
            space.program.write(session.name, pcm)

    def ingest_metrics(self) -> dict[str, float]:
        """Audio of push sources dropped (counted, logged), skipped in quiet moments, or cut a
        pitch period at a time to catch up (`seconds_caught_up`), in seconds, all time."""
        totals = dict(self.ingest_losses)
        for space in self._spaces.values():
            if space.ingest is not None:
                for name, value in space.ingest.losses().items():
                    totals[name] = round(totals[name] + value, 3)
        return totals

    def _source_ended(self, space: LiveSpace, session: IngestSession) -> None:
        for name, value in session.losses().items():
            self.ingest_losses[name] = round(self.ingest_losses[name] + value, 3)
        if space.ingest is session:
            space.ingest = None
        if space.program is not None and session.started:
            space.program.detach(session.name)

    # --- documents ---
    def urls(self, space: LiveSpace) -> dict[str, Any]:
        base = self.settings.base_url
        sid = space.record.id
        ended = space.record.phase is Phase.ENDED and space.record.has_replay
        return {
            "page_url": f"{base}/spaces/{sid}",
            "playlist_url": f"{base}/live/{sid}/master.m3u8",
            "replay_url": f"{base}/replay/{sid}/media.m3u8" if ended else None,
            "replay_download_url": f"{base}/replay/{sid}.m4a" if ended else None,
        }

    def details(self, space: LiveSpace, now: float) -> dict[str, Any]:
        r = space.record
        listeners = self.listeners_now(space, now)
        return {
            "id": r.id,
            "title": r.title,
            "host": r.host,
            "state": shown_state(r.phase, r.scheduled_start, now),
            "scheduled_start": iso(r.scheduled_start),
            "actual_start": iso(r.actual_start),
            "ended_at": iso(r.ended_at),
            "listener_cap": r.listener_cap,
            "listeners": {"now": listeners,
                          "peak": max(r.peak_listeners, space.listeners.peak)},
            "waiting": space.room.queued,
            "reactions": space.reactions.snapshot(now),
            "on_air": bool(space.program and space.program.ready),
            "join_grant": self.join_grant(space, listeners, now) if self.join_grant else None,
            **(self.latency_tier(space, listeners, now) if self.latency_tier else {}),
            **stage_status(space, self.settings),
            **self.urls(space),
            "signing_key": self.signing_key(),
            "server_time": iso(now),
        }

    def signing_key(self) -> dict[str, str] | None:
        if self.identity is None:
            return None
        return {"algorithm": ALGORITHM,
                "fingerprint": self.identity.fingerprint,
                "url": f"{self.settings.base_url}/.well-known/townhall-signing.json"}

    def ingest_url(self, space: LiveSpace, key: str) -> str:
        s = self.settings
        if s.ingest_public_url:  # an edge forwards chunked pushes: http://source:KEY@edge/...
            scheme, _, rest = s.ingest_public_url.rstrip("/").partition("://")
            return f"{scheme}://source:{key}@{rest}/ingest/{space.record.id}"
        return f"icecast://source:{key}@{s.ingest_host}:{s.ingest_port}/ingest/{space.record.id}"
