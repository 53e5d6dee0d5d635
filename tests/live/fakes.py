"""In-memory stand-ins for the live layer's unit tests: the stores, a clock, an announcer.

No sockets, no files: each keeps what it was given in a dict, and `down` makes it raise
`StoreUnavailable` as an unreachable database does."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from townhall.admission.room import LocalRoom
from townhall.admission.waiting_room import WaitingRoom
from townhall.delivery.listeners import ListenerCounter
from townhall.live.registry.live_space import LiveSpace
from townhall.recording.manifest import RecordingManifest, SegmentEntry
from townhall.settings import Settings
from townhall.space.space_record import SpaceRecord, hash_key
from townhall.store.base import StoreUnavailable


class MemorySpaces:
    """The records a `SpaceStore` keeps."""

    def __init__(self, *records: SpaceRecord) -> None:
        self.records = {r.id: r for r in records}
        self.saved: list[str] = []
        self.loads = 0
        self.down = False

    def _up(self) -> None:
        if self.down:
            raise StoreUnavailable("down")

    def save(self, record: SpaceRecord) -> None:
        self._up()
        self.records[record.id] = record
        self.saved.append(record.id)

    def key_hash(self, space_id: str) -> str | None:
        self._up()
        record = self.records.get(space_id)
        return record.host_key_hash if record else None

    def replace_key_hash(self, space_id: str, old: str, new: str) -> bool:
        self._up()
        record = self.records[space_id]
        if record.host_key_hash != old:
            return False
        self.records[space_id] = dataclasses.replace(record, host_key_hash=new)
        return True

    def set_captions(self, space_id: str, on: bool | None) -> None:
        self._up()
        self.records[space_id] = dataclasses.replace(self.records[space_id], captions=on)

    def load(self, space_id: str) -> SpaceRecord | None:
        self._up()
        self.loads += 1
        return self.records.get(space_id)

    def load_all(self) -> list[SpaceRecord]:
        self._up()
        return list(self.records.values())

    def save_seats(self, space_id: str, seats: list[Any]) -> None:
        self._up()

    def load_seats(self, space_id: str) -> list[Any]:
        self._up()
        return []

    def ping(self) -> None:
        self._up()

    def close(self) -> None:
        return None


class MemoryRecordings:
    """What a `RecordingStore` holds of each space: its init section and manifest."""

    def __init__(self) -> None:
        self.inits: dict[str, bytes] = {}
        self.manifests: dict[str, RecordingManifest] = {}
        self.segments: dict[tuple[str, int], bytes] = {}
        self.down = False

    def manifest(self, space_id: str) -> RecordingManifest | None:
        return self.manifests.get(space_id)

    def journal(self, space_id: str) -> bytes | None:
        return None

    def init(self, space_id: str) -> bytes | None:
        return self.inits.get(space_id)

    def has_recording(self, space_id: str) -> bool:
        return space_id in self.manifests

    def put_init(self, space_id: str, init: bytes) -> None:
        self.inits[space_id] = init

    def put_manifest(self, space_id: str, manifest: RecordingManifest) -> None:
        self.manifests[space_id] = manifest

    def close_segment(self, space_id: str, entry: SegmentEntry, data: bytes,
                      manifest: RecordingManifest) -> None:
        self.segments[(space_id, entry.msn)] = data
        self.manifests[space_id] = manifest

    def segment(self, space_id: str, entry: SegmentEntry) -> bytes | None:
        return self.segments.get((space_id, entry.msn))

    def write_journal(self, space_id: str, data: bytes) -> None:
        return None

    def append_journal(self, space_id: str, data: bytes, at: int) -> None:
        return None

    def remove_journal(self, space_id: str) -> None:
        return None

    def append_checkpoint(self, space_id: str, msn: int, doc: dict[str, str]) -> None:
        return None

    def checkpoints(self, space_id: str) -> list[dict[str, str]]:
        return []

    def checkpoint(self, space_id: str, msn: int | None) -> dict[str, str] | None:
        return None

    def put_withdrawal(self, space_id: str, doc: dict[str, Any]) -> None:
        return None

    def withdrawal(self, space_id: str) -> dict[str, Any] | None:
        return None

    def put_download(self, space_id: str, data: bytes) -> bytes:
        return data

    def download(self, space_id: str) -> bytes | None:
        return None

    def ping(self) -> None:
        if self.down:
            raise StoreUnavailable("down")

    def close(self) -> None:
        return None


@dataclass
class Clock:
    """A frozen clock the test moves by hand."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Heard:
    """An `announce(topic, ident)` that remembers what it was told."""

    said: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, topic: str, ident: str) -> None:
        self.said.append((topic, ident))


def record(space_id: str = "sp1", key: str = "host-key", **more: Any) -> SpaceRecord:
    return SpaceRecord(id=space_id, title="t", host="h", host_key_hash=hash_key(key),
                       created_at=0.0, scheduled_start=None, listener_cap=None, **more)


def settings(**more: Any) -> Settings:
    return Settings.of(**more)


def live_space(rec: SpaceRecord | None = None) -> LiveSpace:
    """A space as the registry wraps it, without the registry."""
    return LiveSpace(rec or record(), ListenerCounter(10, 100),
                     LocalRoom(WaitingRoom(rec.listener_cap if rec else None, 30, 5)))
