"""What the services need from the durable store. Implementations: SQLite and files (the
embedded default), PostgreSQL (a cluster). `store/factory.py` picks one; services never ask
which they hold.

Every call is blocking and belongs on the control path (or a writer thread), never on a live
listener's path. A store that cannot be reached raises `StoreUnavailable`: the web edge answers
503 with Retry-After, and writers that must not lose anything retry until it is back.
"""

from __future__ import annotations

from typing import Protocol

from townhall.errors import StoreUnavailable as StoreUnavailable  # raised by every adapter
from townhall.recording.store import RecordingStore as RecordingStore  # the recorder's port
from townhall.space.roles import Seat
from townhall.space.space_record import SpaceRecord


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

    def set_captions(self, space_id: str, on: bool | None) -> None:
        """The host's captions switch of a space (None: the operator's default); `save`
        leaves it as it is, so only this call changes it after the insert."""

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
