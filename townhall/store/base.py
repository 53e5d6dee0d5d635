"""What the services need from a metadata store. Implementations: sqlite (default)."""

from __future__ import annotations

from typing import Protocol

from townhall.space.record import SpaceRecord


class SpaceStore(Protocol):
    def save(self, record: SpaceRecord) -> None:
        """Insert or replace the record."""

    def load_all(self) -> list[SpaceRecord]:
        """Every space, oldest first (read once at start)."""

    def close(self) -> None: ...
