"""What the services need from the durable store. Implementations: SQLite and files (the
embedded default), PostgreSQL (a cluster). `store/factory.py` picks one; services never ask
which they hold.

Every call is blocking and belongs on the control path (or a writer thread), never on a live
listener's path. A store that cannot be reached raises `StoreUnavailable`: the web edge answers
503 with Retry-After, and writers that must not lose anything retry until it is back.
"""

from __future__ import annotations

from typing import Any, Protocol

from townhall.recording.manifest import RecordingManifest, SegmentEntry
from townhall.space.record import SpaceRecord
from townhall.space.roles import Seat


class StoreUnavailable(Exception):
    """The store cannot be reached now (restarting, network); retrying later may work."""


class SpaceStore(Protocol):
    def save(self, record: SpaceRecord) -> None:
        """Insert the record, or update an existing one's fields except its host key hash
        (security state: only `replace_key_hash` changes it, so a save from a stale copy can
        never write an old key back)."""

    def key_hash(self, space_id: str) -> str | None:
        """The space's host key hash as stored now (checked before trusting a cached copy)."""

    def replace_key_hash(self, space_id: str, old: str, new: str) -> bool:
        """Compare-and-set: `new` if the stored hash is still `old`; False (nothing changed)
        if another origin changed it first or the space is unknown."""

    def load(self, space_id: str) -> SpaceRecord | None:
        """One space's record, or None (another origin may have created it since start)."""

    def load_all(self) -> list[SpaceRecord]:
        """Every space, oldest first (read at start; in a cluster, every few seconds)."""

    def save_seats(self, space_id: str, seats: list[Seat]) -> None:
        """Insert or replace these stage seats of a space."""

    def load_seats(self, space_id: str) -> list[Seat]:
        """A space's stage seats as last saved (read when its stage is first needed)."""

    def ping(self) -> None:
        """Return if the store answers now; raise StoreUnavailable if not (readiness)."""

    def close(self) -> None: ...


class RecordingStore(Protocol):
    """Where a space's recording lives: the init section, each closed segment with the
    manifest that chains it, and the journal of the segment still open (its parts as they
    went out). Writes are durable when they return."""

    def put_init(self, space_id: str, init: bytes) -> None: ...

    def close_segment(self, space_id: str, entry: SegmentEntry, data: bytes,
                      manifest: RecordingManifest) -> None:
        """A segment closed: store its bytes and the manifest that lists it, then drop the
        journal (in that order, so a crash between them loses nothing)."""

    def put_manifest(self, space_id: str, manifest: RecordingManifest) -> None:
        """Replace the manifest (sealing it at the end)."""

    def write_journal(self, space_id: str, data: bytes) -> None:
        """Start the open segment's journal with these bytes."""

    def append_journal(self, space_id: str, data: bytes, at: int) -> None:
        """Write `data` at offset `at` of the journal (its length before this part), so that
        retrying an append that did land (the answer was lost) changes nothing."""

    def remove_journal(self, space_id: str) -> None: ...

    def journal(self, space_id: str) -> bytes | None: ...

    def init(self, space_id: str) -> bytes | None: ...

    def manifest(self, space_id: str) -> RecordingManifest | None: ...

    def segment(self, space_id: str, entry: SegmentEntry) -> bytes | None: ...

    def has_recording(self, space_id: str) -> bool:
        """A manifest or a journal exists: the space published something."""

    # the verifiable record (recording/checkpoint.py, recording/withdrawal.py): signed
    # documents kept as they were signed, public after the replay is withdrawn

    def append_checkpoint(self, space_id: str, msn: int, doc: dict[str, str]) -> None:
        """Keep the checkpoint signed after segment `msn` (storing one twice changes nothing,
        so a retried write is safe)."""

    def checkpoints(self, space_id: str) -> list[dict[str, str]]:
        """Every checkpoint kept for this recording, oldest first."""

    def checkpoint(self, space_id: str, msn: int | None) -> dict[str, str] | None:
        """The checkpoint signed after segment `msn`, or the newest one when `msn` is None
        (what listeners poll: one row, not the whole list)."""

    def put_withdrawal(self, space_id: str, doc: dict[str, Any]) -> None:
        """The host withdrew the replay: keep the (signed) withdrawal, once."""

    def withdrawal(self, space_id: str) -> dict[str, Any] | None: ...

    def put_download(self, space_id: str, data: bytes) -> bytes:
        """Keep the signed downloadable replay unless one is kept already; returns the one
        kept. Signing is not deterministic (time, ids, ECDSA), so every origin must serve
        the same first-kept bytes: a Range request resumed on another origin then fits."""

    def download(self, space_id: str) -> bytes | None: ...

    def ping(self) -> None: ...

    def close(self) -> None: ...
