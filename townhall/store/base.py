"""What the services need from a metadata store. Implementations: sqlite (default)."""

from __future__ import annotations

from typing import Protocol

from townhall.space.record import SpaceRecord
from townhall.space.roles import Seat


class SpaceStore(Protocol):
    def save(self, record: SpaceRecord) -> None:
        """Insert or replace the record."""

    def load_all(self) -> list[SpaceRecord]:
        """Every space, oldest first (read at start; in a cluster, every few seconds)."""

    def load(self, space_id: str) -> SpaceRecord | None:
        """One space, or None (in a cluster: a space another origin created)."""

    def save_seats(self, space_id: str, seats: list[Seat]) -> None:
        """Insert or replace these stage seats of a space."""

    def load_seats(self, space_id: str) -> list[Seat]:
        """A space's stage seats as last saved (read when its stage is first needed)."""

    def close(self) -> None: ...
