"""Who runs each live space's program in a cluster, and the warm standbys that follow it.

Service. The origin holding a space's lease (Redis, `lease_ttl_s`, renewed every
`lease_renew_s`) runs its program and appends every event to the space's part stream before
publishing it (`Program.replicate`). Every other origin follows the stream into a standby
program: the same live window (so it answers any media request) and the same recording. When
the lease lapses (the holder was killed) a standby takes it and continues the same playlist
(`Program.take_over`: the open segment's next part, the same decode time); the origin that
has the space's source is preferred (the others wait `standby_grace_s` longer), and a holder
hands the program over to an origin that gets the source (`want`). While Redis is away the
holder keeps publishing (`live.program.part_stream` queues the entries), nobody can take a lease,
and standbys resume where they stopped.
Never touches the database; which spaces to follow comes from `live.cluster_sync.cluster_watch`
(`follow`). It is the cluster's `live.program.host.ProgramHost`: the registry asks it for a
space's program and to end one, and never asks whether it runs in a cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter

from townhall.cluster.base import Cluster, ClusterUnavailable, Renewal
from townhall.cluster.entries import END, OPENED, Entry, end_entry
from townhall.live import tasks
from townhall.live.program.factory import ProgramFactory
from townhall.live.program.part_stream import PartStream
from townhall.live.program.program import Program
from townhall.live.registry.live_space import LiveSpace
from townhall.media.events import MediaEvent
from townhall.ops import metrics
from townhall.settings import Settings

log = logging.getLogger("townhall.leases")


class ProgramLeases:
    clustered = True  # live.program_host.ProgramHost: programs run on several origins

    def __init__(self, settings: Settings, cluster: Cluster, factory: ProgramFactory) -> None:
        self.cluster = cluster
        self.settings = settings
        self.factory = factory
        self.counters: Counter[str] = Counter()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.stream = PartStream(self.settings, cluster, self.counters)
        self._after = self.stream.position  # the last stream id this origin has of each space
        self._wanted: set[str] = set()
        self._last_entry_at: dict[str, float] = {}  # when the holder's last entry came
        self.holding: set[str] = set()

    # --- the registry's (live.program_host.ProgramHost) ---
    def program_for(self, space: LiveSpace) -> Program:
        """The space's program; one made here is adopted (a standby until the lease is ours)."""
        if space.program is not None:
            return space.program
        program = self.factory.make(space)
        self.adopt(space, program)
        return program

    def adopt(self, space: LiveSpace, program: Program) -> None:
        """A program was made on this origin: a standby until this origin holds the lease."""
        sid = space.record.id
        program.following = True
        # recordings shared by every origin (PostgreSQL): only the holder writes
        program.recorder.silent = self.settings.store.database_url is not None
        program.recorder.start(program.init)
        program.replicate = lambda events, decode: self._replicate(sid, events, decode)
        program.on_source = lambda: self._want(sid)
        self._ensure_task(space)

    async def end_program(self, space: LiveSpace) -> None:
        program = space.program
        assert program is not None
        sid = space.record.id
        if not program.following:
            await self._end_here(sid, program)
            return
        with contextlib.suppress(ClusterUnavailable):
            await self.cluster.ask_end(sid)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 4 * self.settings.cluster.lease_ttl_s
        while not program.ended and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if not program.ended:  # nobody holds it any more: end it here
            log.warning("space %s: no holder answered the end; ending it here", sid)
            with contextlib.suppress(ClusterUnavailable):
                await self.cluster.acquire(sid)
            await program.announce(program.take_over())
            await self._end_here(sid, program)

    async def _end_here(self, sid: str, program: Program) -> None:
        await program.end()
        with contextlib.suppress(ClusterUnavailable):
            async with self.stream.order(sid):
                await self.stream.flush(sid)
                await self.cluster.append(sid, [end_entry(program.window.last_complete_msn,
                                                          program.published_until)])
            await self.cluster.set_live(sid, False)
            await self.cluster.release(sid)
        self.holding.discard(sid)
        metrics.LEASE_HELD.labels(sid).set(0)

    # --- holder: the fence (live.part_stream) ---
    async def _replicate(self, sid: str, events: list[MediaEvent], decode: int) -> bool:
        if await self.stream.append(sid, events, decode):
            return True
        self.counters["deposed"] += 1
        log.warning("space %s: lease lost; this origin stops publishing", sid)
        self.holding.discard(sid)
        metrics.LEASE_HELD.labels(sid).set(0)
        return False

    def _want(self, sid: str) -> None:
        self._wanted.add(sid)

    # --- one task per live space: hold, or follow and stand by ---
    def _ensure_task(self, space: LiveSpace) -> None:
        sid = space.record.id
        task = self._tasks.get(sid)
        if task is None or task.done():
            self._tasks[sid] = asyncio.get_running_loop().create_task(self._run(space))

    async def _run(self, space: LiveSpace) -> None:
        sid = space.record.id
        program = space.program
        assert program is not None
        loop = asyncio.get_running_loop()
        free_since: float | None = None  # when this standby first saw the lease free
        away_at = -1e9  # when Redis was last unreachable (a restarted Redis has no leases)
        synced = False
        s = self.settings
        while not program.ended:
            try:
                if not program.following:
                    synced = True  # once deposed, it follows from its own last entry
                    await self._hold(sid, program)
                    continue
                mine = sid in self._wanted
                if mine:
                    await self.cluster.want(sid)
                    if await self.cluster.holder(sid) is None and await self.cluster.acquire(sid):
                        await self._take_over(sid, program)  # a new space, or its holder died
                        continue
                got = await self.cluster.read(sid, self._after.get(sid, "0"),
                                              s.cluster.lease_renew_s)
                if got:
                    synced = await self._apply(sid, program, got, synced)
                    continue
                holder = await self.cluster.holder(sid)
                if holder == self.cluster.origin:  # ours again (renewed after a deposition)
                    await self._take_over(sid, program)
                    continue
                if holder is not None:
                    free_since = None
                    continue
                wanted = await self.cluster.wanted_by(sid)
                if wanted is not None and wanted != self.cluster.origin:
                    continue  # the origin with the source takes it
                now = loop.time()
                free_since = now if free_since is None else free_since
                # the lease lapsed: its holder is gone (standbys without the source wait a
                # little for the one with it). Right after Redis was away, a lapsed lease may
                # be a restarted Redis: the holder then takes it back with its next renewal.
                if now - free_since < s.cluster.standby_grace_s \
                        or now - away_at < s.cluster.lease_ttl_s + s.cluster.standby_grace_s:
                    continue
                if await self.cluster.acquire(sid):
                    await self._take_over(sid, program)
            except ClusterUnavailable as exc:
                self.counters["cluster_unavailable"] += 1
                if self.counters["cluster_unavailable"] % 20 == 1:
                    log.warning("space %s: shared state unavailable (%s)", sid, exc)
                await asyncio.sleep(s.cluster.lease_renew_s)
                away_at, free_since = loop.time(), None
            except Exception:
                log.exception("space %s: program lease loop failed; retrying", sid)
                await asyncio.sleep(s.cluster.lease_renew_s)

    async def _apply(self, sid: str, program: Program, got: list[tuple[str, Entry]],
                     synced: bool) -> bool:
        self._last_entry_at[sid] = asyncio.get_running_loop().time()
        for stream_id, entry in got:
            self._after[sid] = stream_id
            if entry.kind == END:
                await program.stop_following()
                return synced
            event = entry.event()
            assert event is not None
            metrics.REPLICATION_LAG.labels(sid).set(max(0.0, time.time() - entry.sent_at))
            if not synced and entry.kind != OPENED:
                continue  # joined mid-segment: start at the next segment
            synced = True
            try:
                program.follow([event], entry.decode_time)
            except (ValueError, KeyError) as exc:
                self.counters["replica_gaps"] += 1
                log.error("space %s: replicated entry %s does not follow: %s", sid,
                          stream_id, exc)
        return synced

    async def _take_over(self, sid: str, program: Program) -> None:
        self._wanted.discard(sid)
        self.holding.add(sid)
        # nobody else can append now: read what the old holder published before we took it
        while got := await self.cluster.read(sid, self._after.get(sid, "0"), 0.001):
            await self._apply(sid, program, got, True)
        self.counters["took_over"] += 1
        metrics.LEASE_HELD.labels(sid).set(1)
        metrics.REPLICATION_LAG.labels(sid).set(0)
        log.warning("space %s: this origin takes the program over", sid)
        loop = asyncio.get_running_loop()
        media = self.settings.media
        late = loop.time() - self._last_entry_at.get(sid, loop.time()) \
            - media.part_frames * 1024 / media.sample_rate
        if program.recorder.silent:
            self._store_what_was_followed(program)
        await program.announce(program.take_over(late))
        program.start_clock()

    @staticmethod
    def _store_what_was_followed(program: Program) -> None:
        w = program.window
        done = [(seg.msn, data) for seg in w.segments.values()
                if seg.complete and (data := w.segment(seg.msn)) is not None]
        last = next(reversed(w.segments.values()), None)
        open_segment = None
        if last is not None and not last.complete and last.part_durations:
            parts = [(w.part(last.msn, i) or b"", d) for i, d in enumerate(last.part_durations)]
            open_segment = (last.msn, last.program_date_time, last.discontinuity, parts)
        program.recorder.take_over_writing(program.init, done, open_segment)

    async def _hold(self, sid: str, program: Program) -> None:
        self.holding.add(sid)
        await asyncio.sleep(self.settings.cluster.lease_renew_s)
        async with self.stream.order(sid):
            await self.stream.flush(sid)
        verdict = await self.cluster.renew(sid)
        if verdict is Renewal.HELD or program.following:
            return
        if verdict is Renewal.END:
            await self._end_here(sid, program)
            return
        # LOST, or HAND_OVER to the origin that now has the source
        self.counters["handed_over" if verdict is Renewal.HAND_OVER else "deposed"] += 1
        log.warning("space %s: lease %s; this origin stops publishing", sid, verdict.value)
        program.following = True
        await program.stop_clock()
        self.holding.discard(sid)
        metrics.LEASE_HELD.labels(sid).set(0)

    # --- the spaces live anywhere (live.cluster_watch) ---
    def follow(self, space: LiveSpace) -> None:
        if space.program is None:
            self.program_for(space)  # adopt() starts its task
        elif not space.program.ended:
            self._ensure_task(space)

    async def close(self) -> None:
        await tasks.cancel(*self._tasks.values())
        for sid in list(self.holding):
            with contextlib.suppress(ClusterUnavailable):
                await self.cluster.release(sid)
        await self.cluster.close()
