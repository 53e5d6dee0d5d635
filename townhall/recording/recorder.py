"""Writes a space's published segments to its RecordingStore as they are published, in order.

Service. One writer task per space so the event loop never waits on the store and segments
land in publication order. Each part of the open segment is journalled as it goes out (the
journal is dropped once its segment is stored); after a hard crash, `recover` turns the
journal into a last short segment, so the replay holds every part that listeners heard.
A write that fails is never dropped: while the store is unreachable (a PostgreSQL restart)
or a file write fails (EMFILE, ENOSPC, EIO) the writer keeps it in memory, with everything
after it, in order, and retries with backoff until it lands (logged, counted in `retries` and
`write_errors`); on EMFILE/ENFILE it retries with descriptors borrowed from the process's
reserve (`reserve`), so a full descriptor table never costs a published segment.
Durable work never waits behind untrusted work: each recorder writes on its own thread (one
`ThreadPoolExecutor(max_workers=1)` per recorder, never the loop's default pool, which paced
decoders and other outsider-driven calls can fill: under six fast pushers `end` once took
10-13 s and a crash then lost 1.9 s that listeners had heard).
Never re-encodes: it stores exactly the bytes the live window published. With a signing
identity it also signs a live checkpoint after each published segment (kept in memory for the
routes and in the store for every origin) and seals the manifest with the key at the end.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from functools import partial

from townhall.errors import StoreUnavailable
from townhall.ops import logs
from townhall.recording import checkpoint, journal
from townhall.recording.manifest import RecordingManifest
from townhall.recording.signing import SigningIdentity
from townhall.recording.store import RecordingStore

log = logging.getLogger("townhall.recording")

RETRY_S = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)  # waits between tries of a write that failed
CHECKPOINTS_IN_MEMORY = 64  # the newest ones, for the routes; older ones are read from the store


def _snapshot(manifest: RecordingManifest) -> RecordingManifest:
    """The manifest as it is now (entries are frozen and the key seal is replaced, never
    changed: a shallow copy is a snapshot)."""
    return RecordingManifest(manifest.space_id, manifest.init_sha256, list(manifest.segments),
                             manifest.complete, manifest.signature, manifest.key_seal,
                             manifest.init)


class Recorder:
    def __init__(self, store: RecordingStore, space_id: str, secret: bytes,
                 identity: SigningIdentity | None = None, checkpoint_every: int = 1, *,
                 reserve: Callable[[], AbstractContextManager[None]] | None = None,
                 finish_timeout_s: float = 60.0) -> None:
        self.store = store
        self.space_id = space_id
        self._secret = secret
        self.identity = identity
        self.checkpoint_every = max(1, checkpoint_every)
        self.checkpoints: OrderedDict[int, dict[str, str]] = OrderedDict()  # msn -> statement
        self._reserve = reserve
        self._finish_timeout_s = finish_timeout_s
        self.manifest: RecordingManifest | None = None
        self._queue: asyncio.Queue[Callable[[], None] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        # this recording's own writer thread: shared with nothing an outsider can slow down
        self._executor: ThreadPoolExecutor | None = None
        self.failed: BaseException | None = None  # the last write error, while unresolved
        self.bytes_stored = 0  # segment bytes durable in the store
        self.retries = 0  # writes retried because the store was unreachable
        self.write_errors = 0  # writes that failed with an OSError (retried until they land)
        # a standby in a cluster whose recordings are shared (PostgreSQL): the manifest is
        # kept in memory and nothing is written, the holder writes; see `take_over_writing`
        self.silent = False
        self._journal_len = 0  # bytes of the open segment's journal once the queue is written

    @property
    def backlog(self) -> int:
        """Writes published but not yet durable in the store."""
        return self._queue.qsize()

    @property
    def pending(self) -> int:
        """Writes held in memory (the same as `backlog`; the name i9's metrics use)."""
        return self._queue.qsize()

    def start(self, init: bytes) -> None:
        if self.manifest is None:
            self.manifest = RecordingManifest.start(self.space_id, init)
            if not self.silent:
                self._put(lambda: self.store.put_init(self.space_id, init))
        self._start_writer()

    def _put(self, write: Callable[[], None]) -> None:
        self._queue.put_nowait(write)

    def _start_writer(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._writer(), context=logs.context_of(self.space_id))

    def part(self, msn: int, index: int, data: bytes, duration: float,
             program_date_time: float, discontinuity: bool) -> None:
        """A part of the open segment went out: journal it (the segment's first part starts
        a new journal)."""
        assert self.manifest is not None, "start() first"
        if self.silent:
            return
        rec = journal.record(data, duration)
        if index == 0:
            head = journal.header(msn, program_date_time, discontinuity)
            self._journal_len = len(head) + len(rec)
            self._put(lambda: self.store.write_journal(self.space_id, head + rec))
        else:
            at = self._journal_len
            self._journal_len += len(rec)
            self._put(lambda: self.store.append_journal(self.space_id, rec, at))

    def segment(self, msn: int, data: bytes, duration: float, program_date_time: float,
                discontinuity: bool) -> None:
        assert self.manifest is not None, "start() first"
        entry = self.manifest.append(msn, data, duration, program_date_time, discontinuity)
        if self.silent:
            return
        snapshot = _snapshot(self.manifest)

        def close() -> None:
            self.store.close_segment(self.space_id, entry, data, snapshot)
            self.bytes_stored += len(data)

        self._put(close)
        if self.identity is not None and len(self.manifest.segments) % self.checkpoint_every == 0:
            self._checkpoint(self.identity, self.manifest)

    def _checkpoint(self, identity: SigningIdentity, manifest: RecordingManifest) -> None:
        doc = checkpoint.make(identity, manifest, time.time())
        msn = manifest.segments[-1].msn
        self.checkpoints[msn] = doc
        while len(self.checkpoints) > CHECKPOINTS_IN_MEMORY:
            self.checkpoints.popitem(last=False)
        self._put(lambda: self.store.append_checkpoint(self.space_id, msn, doc))

    def take_over_writing(self, init: bytes, segments: list[tuple[int, bytes]],
                          open_segment: tuple[int, float, bool, list[tuple[bytes, float]]]
                          | None) -> None:
        """A silent standby becomes the holder: store again the recent `segments` (msn, bytes)
        it followed (the old holder may have died before storing them; storing twice is a
        no-op) and the journal of the open segment (msn, date, discontinuity, parts)."""
        assert self.manifest is not None, "start() first"
        self.silent = False
        self._put(lambda: self.store.put_init(self.space_id, init))
        entries = {e.msn: e for e in self.manifest.segments}
        snapshot = _snapshot(self.manifest)
        for msn, data in segments:
            entry = entries.get(msn)
            if entry is not None:
                self._put(partial(self.store.close_segment, self.space_id, entry, data,
                                  snapshot))
        if open_segment is not None:
            msn, pdt, disc, parts = open_segment
            blob = journal.header(msn, pdt, disc) + b"".join(
                journal.record(d, dur) for d, dur in parts)
            self._journal_len = len(blob)  # the next part is appended after these
            self._put(lambda: self.store.write_journal(self.space_id, blob))
        self._start_writer()

    async def finish(self) -> RecordingManifest | None:
        """Seal the manifest and wait until every byte is in the store."""
        if self.manifest is None:
            return None
        if self.silent:  # a standby's copy: the holder seals the shared recording
            self.manifest.seal(self._secret)
            if self.identity is not None:
                self.manifest.seal_with_key(self.identity)
            return self.manifest
        self.manifest.seal(self._secret)
        if self.identity is not None:
            self.manifest.seal_with_key(self.identity)
        self._start_writer()  # a space ended after a restart, without airing again
        sealed = _snapshot(self.manifest)
        self._put(lambda: self.store.put_manifest(self.space_id, sealed))
        self._queue.put_nowait(None)
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self._finish_timeout_s)
            except TimeoutError:
                # still retrying in the background: nothing is lost, but say so loudly
                raise RuntimeError(f"recording of {self.space_id} is not stored yet "
                                   f"({self._queue.qsize()} writes waiting, last error: "
                                   f"{self.failed}); it keeps retrying") from None
        return self.manifest

    async def flush(self) -> None:
        """Wait until everything published so far is in the store (shutdown, tests)."""
        if self._task is not None and not self._task.done():
            await self._queue.join()

    async def _writer(self) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"record-{self.space_id}")
        try:
            while True:
                write = await self._queue.get()
                try:
                    if write is None:
                        return
                    await self._until_stored(write)
                finally:
                    self._queue.task_done()
        finally:
            self._executor.shutdown(wait=False)
            self._executor = None

    async def _until_stored(self, write: Callable[[], None]) -> None:
        """The one retry loop: the write (and everything queued after it) waits here until
        it lands; the live path goes on meanwhile."""
        tries = 0
        while True:
            try:
                assert self._executor is not None
                await asyncio.get_running_loop().run_in_executor(self._executor,
                                                                 self._attempt, write)
                if tries:  # a warning: it closes the error/warning lines above
                    log.warning("recording of %s: writes succeed again after %d retries",
                             self.space_id, tries, extra={"space_id": self.space_id})
                    self.failed = None
                return
            except StoreUnavailable as exc:
                if tries == 0:
                    log.warning("recording of %s: store unavailable (%s); keeping %d writes "
                                "and retrying", self.space_id, exc, self.backlog + 1,
                                extra={"space_id": self.space_id})
                self.failed = exc
                self.retries += 1
            except OSError as exc:  # EMFILE, ENOSPC, EIO: every failure is logged
                self.failed = exc
                self.write_errors += 1
                self.retries += 1
                log.error("recording of %s: a write failed (%s); retrying, %d writes held in "
                          "memory", self.space_id, exc, self.backlog + 1,
                          extra={"space_id": self.space_id})
            await asyncio.sleep(RETRY_S[min(tries, len(RETRY_S) - 1)])
            tries += 1

    def _attempt(self, write: Callable[[], None]) -> None:
        try:
            write()
        except OSError as exc:
            if exc.errno not in (errno.EMFILE, errno.ENFILE) or self._reserve is None:
                raise
            with self._reserve():  # descriptors from the reserve, for this write
                write()


def recover(store: RecordingStore, space_id: str) -> RecordingManifest | None:
    """The recording as it was left. After a hard crash, the journal of the segment that was
    open becomes its last (short) segment, stored before this returns: the replay then holds
    every part that went out live. Blocking IO: call once, at resume."""
    manifest = store.manifest(space_id)
    blob = store.journal(space_id)
    if blob is None:
        return manifest
    try:
        seg = journal.parse(blob)
    except ValueError:  # torn before its first part was written: nothing went out
        store.remove_journal(space_id)
        return manifest
    if seg.parts and (manifest is None or not manifest.segments
                      or seg.msn > manifest.segments[-1].msn):
        if manifest is None:
            init = store.init(space_id)
            if init is None:
                raise ValueError(f"recording of {space_id}: a journal without an init section")
            manifest = RecordingManifest.start(space_id, init)
        entry = manifest.append(seg.msn, seg.data, seg.duration, seg.program_date_time,
                                seg.discontinuity)
        store.close_segment(space_id, entry, seg.data, manifest)
    else:
        store.remove_journal(space_id)
    return manifest
