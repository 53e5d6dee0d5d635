"""Writes a space's published segments to disk as they are published, fsynced, in order.

Service: one writer task per space so the event loop never waits on the disk and segments
land in publication order. Owns <recordings>/<space>/: init.mp4, seg-*.m4s, manifest.json and
open.parts, the journal of the segment being published (each part appended and fsynced as it
goes out, removed once its segment is on disk). After a hard crash, `recover` turns the
journal into a last short segment, so the replay holds every part that listeners heard.
Never re-encodes: it stores exactly the bytes the live window published.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from townhall.recording import journal
from townhall.recording.manifest import RecordingManifest

JOURNAL = "open.parts"
RETRY_FIRST_S, RETRY_MAX_S = 0.05, 2.0  # a failed write is retried with this backoff
log = logging.getLogger("townhall.recording")


def _write_durable(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _append_durable(path: Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _remove_durable(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        return
    _fsync_dir(path.parent)


def manifest_bytes(manifest: RecordingManifest) -> bytes:
    return json.dumps(manifest.to_dict(), indent=1).encode()


# what the writer does with (path, bytes): replace the file, append to it, or remove it
_WRITE, _APPEND, _REMOVE = "write", "append", "remove"
_OPS: dict[str, Callable[[Path, bytes], None]] = {_WRITE: _write_durable, _APPEND: _append_durable,
        _REMOVE: lambda path, _data: _remove_durable(path)}


class Recorder:
    """Writes in publication order. A write that fails (EMFILE, ENOSPC, EIO) is never
    dropped: it stays in memory, with everything after it, and is retried with backoff until
    it lands, logged each time and counted in `write_errors`. On EMFILE it is retried with a
    descriptor borrowed from the process's reserve (`reserve`)."""

    def __init__(self, directory: Path, space_id: str, secret: bytes,
                 reserve: Callable[[], AbstractContextManager[None]] | None = None,
                 finish_timeout_s: float = 60.0) -> None:
        self.directory = directory
        self.space_id = space_id
        self._secret = secret
        self._reserve = reserve
        self._finish_timeout_s = finish_timeout_s
        self.manifest: RecordingManifest | None = None
        self._queue: asyncio.Queue[tuple[str, Path, bytes] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.failed: BaseException | None = None  # the last write error, while unresolved
        self.write_errors = 0

    def start(self, init: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.manifest is None:
            self.manifest = RecordingManifest.start(self.space_id, init)
            self._queue.put_nowait((_WRITE, self.directory / "init.mp4", init))
        self._start_writer()

    def _start_writer(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._writer())

    def part(self, msn: int, index: int, data: bytes, duration: float,
             program_date_time: float, discontinuity: bool) -> None:
        """A part of the open segment went out: journal it (the segment's first part starts
        a new journal)."""
        assert self.manifest is not None, "start() first"
        path = self.directory / JOURNAL
        if index == 0:
            head = journal.header(msn, program_date_time, discontinuity)
            self._queue.put_nowait((_WRITE, path, head + journal.record(data, duration)))
        else:
            self._queue.put_nowait((_APPEND, path, journal.record(data, duration)))

    def segment(self, msn: int, data: bytes, duration: float, program_date_time: float,
                discontinuity: bool) -> None:
        assert self.manifest is not None, "start() first"
        entry = self.manifest.append(msn, data, duration, program_date_time, discontinuity)
        self._queue.put_nowait((_WRITE, self.directory / entry.file, data))
        self._queue.put_nowait((_WRITE, self.directory / "manifest.json", self._manifest_bytes()))
        self._queue.put_nowait((_REMOVE, self.directory / JOURNAL, b""))

    def _manifest_bytes(self) -> bytes:
        assert self.manifest is not None
        return manifest_bytes(self.manifest)

    async def finish(self) -> RecordingManifest | None:
        """Seal the manifest and wait until every byte is on disk."""
        if self.manifest is None:
            return None
        self.manifest.seal(self._secret)
        self._start_writer()  # a space ended after a restart, without airing again
        self._queue.put_nowait((_WRITE, self.directory / "manifest.json", self._manifest_bytes()))
        self._queue.put_nowait(None)
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self._finish_timeout_s)
            except TimeoutError:
                # still retrying in the background: nothing is lost, but say so loudly
                raise RuntimeError(f"recording of {self.space_id} is not on disk yet "
                                   f"({self._queue.qsize()} writes waiting, last error: "
                                   f"{self.failed}); it keeps retrying") from None
        return self.manifest

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def flush(self) -> None:
        """Wait until everything published so far is on disk (shutdown, tests)."""
        if self._task is not None and not self._task.done():
            await self._queue.join()

    async def _writer(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                if item is None:
                    return
                await self._write_until_done(*item)
            finally:
                self._queue.task_done()

    async def _write_until_done(self, op: str, path: Path, data: bytes) -> None:
        delay = RETRY_FIRST_S
        while True:
            try:
                await asyncio.to_thread(self._attempt, op, path, data)
            except OSError as exc:  # the live path goes on; this write waits and retries
                self.failed = exc
                self.write_errors += 1
                log.error("recording %s: writing %s failed (%s); retrying in %.2f s, "
                          "%d writes held in memory", self.space_id, path.name, exc, delay,
                          self._queue.qsize() + 1)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            if self.failed is not None:
                log.warning("recording %s: writes succeed again", self.space_id)
                self.failed = None
            return

    def _attempt(self, op: str, path: Path, data: bytes) -> None:
        try:
            _OPS[op](path, data)
        except OSError as exc:
            if exc.errno not in (errno.EMFILE, errno.ENFILE) or self._reserve is None:
                raise
            with self._reserve():  # one descriptor from the reserve, for this write
                _OPS[op](path, data)


def recover(directory: Path, space_id: str) -> RecordingManifest | None:
    """The recording as this origin left it. After a hard crash, the journal of the segment
    that was open becomes its last (short) segment, on disk before this returns: the replay
    then holds every part that went out live. Blocking file IO: call once, at resume."""
    manifest = load_manifest(directory)
    path = directory / JOURNAL
    try:
        seg = journal.parse(path.read_bytes())
    except FileNotFoundError:
        return manifest
    except ValueError:  # torn before its first part was written: nothing went out
        _remove_durable(path)
        return manifest
    if seg.parts and (manifest is None or not manifest.segments
                      or seg.msn > manifest.segments[-1].msn):
        if manifest is None:
            init = (directory / "init.mp4").read_bytes()
            manifest = RecordingManifest.start(space_id, init)
        entry = manifest.append(seg.msn, seg.data, seg.duration, seg.program_date_time,
                                seg.discontinuity)
        _write_durable(directory / entry.file, seg.data)
        _write_durable(directory / "manifest.json", manifest_bytes(manifest))
    _remove_durable(path)
    return manifest


def has_recording(directory: Path) -> bool:
    return (directory / "manifest.json").exists() or (directory / JOURNAL).exists()


def load_manifest(directory: Path) -> RecordingManifest | None:
    try:
        return RecordingManifest.from_dict(json.loads((directory / "manifest.json").read_bytes()))
    except FileNotFoundError:
        return None
