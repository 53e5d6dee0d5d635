"""Writes a space's published segments to disk as they are published, fsynced, in order.

Service: one writer task per space so the event loop never waits on the disk and segments
land in publication order. Owns <recordings>/<space>/: init.mp4, seg-*.m4s, manifest.json.
Never re-encodes: it stores exactly the bytes the live window published.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from townhall.recording.manifest import RecordingManifest


def _write_durable(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class Recorder:
    def __init__(self, directory: Path, space_id: str, secret: bytes) -> None:
        self.directory = directory
        self.space_id = space_id
        self._secret = secret
        self.manifest: RecordingManifest | None = None
        self._queue: asyncio.Queue[tuple[Path, bytes] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.failed: BaseException | None = None

    def start(self, init: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.manifest is None:
            self.manifest = RecordingManifest.start(self.space_id, init)
            self._queue.put_nowait((self.directory / "init.mp4", init))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._writer())

    def segment(self, msn: int, data: bytes, duration: float, program_date_time: float,
                discontinuity: bool) -> None:
        assert self.manifest is not None, "start() first"
        entry = self.manifest.append(msn, data, duration, program_date_time, discontinuity)
        self._queue.put_nowait((self.directory / entry.file, data))
        self._queue.put_nowait((self.directory / "manifest.json", self._manifest_bytes()))

    def _manifest_bytes(self) -> bytes:
        assert self.manifest is not None
        return json.dumps(self.manifest.to_dict(), indent=1).encode()

    async def finish(self) -> RecordingManifest | None:
        """Seal the manifest and wait until every byte is on disk."""
        if self.manifest is None:
            return None
        self.manifest.seal(self._secret)
        self._queue.put_nowait((self.directory / "manifest.json", self._manifest_bytes()))
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
                await asyncio.to_thread(_write_durable, *item)
            except OSError as exc:  # disk full etc.: keep the live path going, report at end
                self.failed = exc
            finally:
                self._queue.task_done()


def load_manifest(directory: Path) -> RecordingManifest | None:
    try:
        return RecordingManifest.from_dict(json.loads((directory / "manifest.json").read_bytes()))
    except FileNotFoundError:
        return None
