"""Recordings as files on this origin's disk: the embedded default's RecordingStore.

Owns <root>/<space>/: init.mp4, seg-*.m4s, segments.jsonl (each closed segment's manifest
entry, one a line, appended as it closes), manifest.json (the sealed manifest, written once
at the end), open.parts (the journal of the segment being published), checkpoints.jsonl (the
signed live checkpoints, one a line) and withdrawn.json (the host's signed withdrawal) and
replay.c2pa.m4a (the signed download, kept once). Every write is fsynced, file and directory,
before it returns; a replaced file is written beside and renamed, so a crash leaves the old
or the new one.
Closing a segment costs the same in its first minute and its third hour: it appends one line
(an earlier version rewrote the whole manifest each time, so a two-hour space's writer spent
hundreds of milliseconds per segment re-encoding a megabyte of JSON, and the origin's memory
grew with each larger transient copy: docs/engines.md, "A long soak").
Only this origin can serve these replays: a cluster keeps them in PostgreSQL instead.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from townhall.recording.manifest import RecordingManifest, SegmentEntry

JOURNAL = "open.parts"
MANIFEST = "manifest.json"
SEGMENTS = "segments.jsonl"
INIT = "init.mp4"
CHECKPOINTS = "checkpoints.jsonl"
WITHDRAWAL = "withdrawn.json"
DOWNLOAD = "replay.c2pa.m4a"


def manifest_bytes(manifest: RecordingManifest) -> bytes:
    return json.dumps(manifest.to_dict(), indent=1).encode()


def _fsync_dir(directory: Path) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_durable(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _write_at_durable(path: Path, data: bytes, at: int) -> None:
    with open(path, "r+b") as f:
        f.seek(at)
        f.write(data)
        f.truncate()
        f.flush()
        os.fsync(f.fileno())


def _append_durable(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        if f.tell() > 0:  # a torn last line (a crash mid-append) must not swallow this one
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                data = b"\n" + data
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _remove_durable(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        return
    _fsync_dir(path.parent)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _entries(lines: bytes) -> list[SegmentEntry]:
    out = []
    for line in lines.splitlines():
        try:
            out.append(SegmentEntry(**json.loads(line)))
        except (ValueError, TypeError):
            continue  # a torn line (a crash mid-append): its segment's journal recovers it
    return out


class FileRecordings:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def directory(self, space_id: str) -> Path:
        return self.root / space_id

    def put_init(self, space_id: str, init: bytes) -> None:
        write_durable(self.directory(space_id) / INIT, init)

    def close_segment(self, space_id: str, entry: SegmentEntry, data: bytes,
                      manifest: RecordingManifest) -> None:
        d = self.directory(space_id)
        write_durable(d / entry.file, data)
        line = json.dumps(asdict(entry), separators=(",", ":")).encode() + b"\n"
        _append_durable(d / SEGMENTS, line)
        _remove_durable(d / JOURNAL)

    def put_manifest(self, space_id: str, manifest: RecordingManifest) -> None:
        write_durable(self.directory(space_id) / MANIFEST, manifest_bytes(manifest))

    def write_journal(self, space_id: str, data: bytes) -> None:
        write_durable(self.directory(space_id) / JOURNAL, data)

    def append_journal(self, space_id: str, data: bytes, at: int) -> None:
        _write_at_durable(self.directory(space_id) / JOURNAL, data, at)

    def remove_journal(self, space_id: str) -> None:
        _remove_durable(self.directory(space_id) / JOURNAL)

    def journal(self, space_id: str) -> bytes | None:
        return _read(self.directory(space_id) / JOURNAL)

    def init(self, space_id: str) -> bytes | None:
        return _read(self.directory(space_id) / INIT)

    def manifest(self, space_id: str) -> RecordingManifest | None:
        """The sealed manifest; while live (or after a crash), the entries appended so far
        after any older manifest.json (a recording begun before segments.jsonl existed)."""
        d = self.directory(space_id)
        raw = _read(d / MANIFEST)
        manifest = None if raw is None else RecordingManifest.from_dict(json.loads(raw))
        if manifest is not None and manifest.complete:
            return manifest
        lines = _read(d / SEGMENTS)
        if lines is None:
            return manifest
        if manifest is None:
            init = self.init(space_id)
            if init is None:
                raise ValueError(f"recording of {space_id}: segments without an init section")
            manifest = RecordingManifest.start(space_id, init)
        for entry in _entries(lines):
            # an append retried after it landed is kept once; entries only move forward
            if not manifest.segments or entry.msn > manifest.segments[-1].msn:
                manifest.segments.append(entry)
        return manifest if manifest.segments else None

    def segment(self, space_id: str, entry: SegmentEntry) -> bytes | None:
        return _read(self.directory(space_id) / entry.file)

    def has_recording(self, space_id: str) -> bool:
        d = self.directory(space_id)
        return any((d / name).exists() for name in (MANIFEST, SEGMENTS, JOURNAL))

    def append_checkpoint(self, space_id: str, msn: int, doc: dict[str, str]) -> None:
        line = json.dumps(doc, separators=(",", ":")).encode() + b"\n"
        _append_durable(self.directory(space_id) / CHECKPOINTS, line)

    def checkpoints(self, space_id: str) -> list[dict[str, str]]:
        raw = _read(self.directory(space_id) / CHECKPOINTS)
        out: dict[int, dict[str, str]] = {}
        for line in (raw or b"").splitlines():
            try:
                doc = json.loads(line)
                msn = int(json.loads(doc["payload"])["msn"])
            except (ValueError, KeyError, TypeError):
                continue  # a torn last line (a crash mid-append)
            out.setdefault(msn, doc)  # an append retried after it landed is kept once
        return [out[msn] for msn in sorted(out)]

    def checkpoint(self, space_id: str, msn: int | None) -> dict[str, str] | None:
        kept = self.checkpoints(space_id)
        if msn is None:
            return kept[-1] if kept else None
        return next((d for d in kept if json.loads(d["payload"])["msn"] == msn), None)

    def put_withdrawal(self, space_id: str, doc: dict[str, Any]) -> None:
        path = self.directory(space_id) / WITHDRAWAL
        if not path.exists():
            write_durable(path, json.dumps(doc, indent=1).encode())

    def withdrawal(self, space_id: str) -> dict[str, Any] | None:
        raw = _read(self.directory(space_id) / WITHDRAWAL)
        if raw is None:
            return None
        doc: dict[str, Any] = json.loads(raw)
        return doc

    def put_download(self, space_id: str, data: bytes) -> bytes:
        path = self.directory(space_id) / DOWNLOAD
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        write_durable(tmp, data)
        try:
            os.link(tmp, path)  # only the first one kept stays
        except FileExistsError:
            data = path.read_bytes()
        finally:
            tmp.unlink()
        _fsync_dir(path.parent)
        return data

    def download(self, space_id: str) -> bytes | None:
        return _read(self.directory(space_id) / DOWNLOAD)

    def ping(self) -> None:
        if not os.access(self.root, os.W_OK):
            from townhall.store.base import StoreUnavailable

            raise StoreUnavailable(f"recordings directory {self.root} is not writable")

    def close(self) -> None:
        pass
