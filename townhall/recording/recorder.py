"""Writes a space's published segments to disk as they are published, fsynced, in order.

Service: one writer task per space so the event loop never waits on the disk and segments
land in publication order. Owns <recordings>/<space>/: init.mp4, seg-*.m4s, manifest.json and
open.parts, the journal of the segment being published (each part appended and fsynced as it
goes out, removed once its segment is on disk). After a hard crash, `recover` turns the
journal into a last short segment, so the replay holds every part that listeners heard.
Never re-encodes: it stores exactly the bytes the live window published. With a signing
identity it also signs a live checkpoint after each published segment (kept in memory for the
routes and appended to checkpoints.jsonl) and seals the manifest with the key at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import OrderedDict
from pathlib import Path

from townhall.recording import checkpoint, journal
from townhall.recording.manifest import RecordingManifest
from townhall.recording.signing import SigningIdentity

JOURNAL = "open.parts"
CHECKPOINTS = "checkpoints.jsonl"
CHECKPOINTS_IN_MEMORY = 64  # the newest ones, for the routes; older ones are read from disk


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
_OPS = {_WRITE: _write_durable, _APPEND: _append_durable,
        _REMOVE: lambda path, _data: _remove_durable(path)}


class Recorder:
    def __init__(self, directory: Path, space_id: str, secret: bytes,
                 identity: SigningIdentity | None = None, checkpoint_every: int = 1) -> None:
        self.directory = directory
        self.space_id = space_id
        self._secret = secret
        self.identity = identity
        self.checkpoint_every = max(1, checkpoint_every)
        self.checkpoints: OrderedDict[int, dict[str, str]] = OrderedDict()  # msn -> statement
        self.manifest: RecordingManifest | None = None
        self._queue: asyncio.Queue[tuple[str, Path, bytes] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.failed: BaseException | None = None

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
        if self.identity is not None and len(self.manifest.segments) % self.checkpoint_every == 0:
            self._checkpoint(self.identity, self.manifest)

    def _checkpoint(self, identity: SigningIdentity, manifest: RecordingManifest) -> None:
        doc = checkpoint.make(identity, manifest, time.time())
        msn = manifest.segments[-1].msn
        self.checkpoints[msn] = doc
        while len(self.checkpoints) > CHECKPOINTS_IN_MEMORY:
            self.checkpoints.popitem(last=False)
        line = json.dumps(doc, separators=(",", ":")).encode() + b"\n"
        self._queue.put_nowait((_APPEND, self.directory / CHECKPOINTS, line))

    def _manifest_bytes(self) -> bytes:
        assert self.manifest is not None
        return manifest_bytes(self.manifest)

    async def finish(self) -> RecordingManifest | None:
        """Seal the manifest and wait until every byte is on disk."""
        if self.manifest is None:
            return None
        self.manifest.seal(self._secret)
        if self.identity is not None:
            self.manifest.seal_with_key(self.identity)
        self._start_writer()  # a space ended after a restart, without airing again
        self._queue.put_nowait((_WRITE, self.directory / "manifest.json", self._manifest_bytes()))
        self._queue.put_nowait(None)
        if self._task is not None:
            await self._task
        if self.failed is not None:
            raise RuntimeError(f"recording of {self.space_id} failed: {self.failed}")
        return self.manifest

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
                op, path, data = item
                await asyncio.to_thread(_OPS[op], path, data)
            except OSError as exc:  # disk full etc.: keep the live path going, report at end
                self.failed = exc
            finally:
                self._queue.task_done()


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


def load_checkpoints(directory: Path) -> list[dict[str, str]]:
    """Every checkpoint signed for this recording, oldest first (a torn last line skipped)."""
    try:
        lines = (directory / CHECKPOINTS).read_bytes().splitlines()
    except FileNotFoundError:
        return []
    out: list[dict[str, str]] = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out
