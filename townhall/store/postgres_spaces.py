"""PostgreSQL space store: spaces and stage seats shared by every origin of a cluster.

Same rows as the SQLite store (migrations 0001); upserts, so a write is idempotent and a
retried one is harmless. Control path only, like every store.
"""

from __future__ import annotations

from dataclasses import astuple, fields
from typing import Any

from townhall.space.lifecycle import Phase
from townhall.space.roles import Role, Seat, SeatState
from townhall.space.space_record import SpaceRecord
from townhall.store.postgres import Postgres

COLUMNS = [f.name for f in fields(SpaceRecord)]
SEAT_COLUMNS = ["space_id", "seat_id", "name", "role", "state", "since", "muted",
                "muted_by_manager"]


def _upsert(table: str, columns: list[str], key: str, kept: tuple[str, ...] = ()) -> str:
    keys = {k.strip() for k in key.split(",")} | set(kept)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in keys)
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
            f"({', '.join('%s' for _ in columns)}) ON CONFLICT ({key}) DO UPDATE SET {updates}")


# ended is final: a late write of an older state (another origin's, a retried background
# write) never brings an ended space back; the host key hash is written once, at insert
# (replace_key_hash alone changes it, so a stale copy never writes an old key back), and so is
# the host's captions switch (set_captions)
SAVE = _upsert("spaces", COLUMNS, "id", kept=("host_key_hash", "captions")) + (
    " WHERE spaces.phase <> 'ended' OR EXCLUDED.phase = 'ended'")
SAVE_SEAT = _upsert("seats", SEAT_COLUMNS, "space_id, seat_id")
SELECT = f"SELECT {', '.join(COLUMNS)} FROM spaces"


def _record(row: tuple[Any, ...]) -> SpaceRecord:
    values = dict(zip(COLUMNS, row, strict=True))
    values["phase"] = Phase(values["phase"])
    return SpaceRecord(**values)


class PostgresSpaceStore:
    def __init__(self, db: Postgres) -> None:
        self.db = db

    def save(self, record: SpaceRecord) -> None:
        row = list(astuple(record))
        row[COLUMNS.index("phase")] = record.phase.value
        with self.db.transaction() as conn:
            conn.execute(SAVE, row)

    def key_hash(self, space_id: str) -> str | None:
        with self.db.transaction() as conn:
            row = conn.execute("SELECT host_key_hash FROM spaces WHERE id = %s",
                               (space_id,)).fetchone()
        return None if row is None else str(row[0])

    def replace_key_hash(self, space_id: str, old: str, new: str) -> bool:
        with self.db.transaction() as conn:
            cur = conn.execute("UPDATE spaces SET host_key_hash = %s WHERE id = %s AND "
                               "host_key_hash = %s", (new, space_id, old))
            return cur.rowcount == 1

    def set_captions(self, space_id: str, on: bool | None) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE spaces SET captions = %s WHERE id = %s", (on, space_id))

    def load(self, space_id: str) -> SpaceRecord | None:
        with self.db.transaction() as conn:
            row = conn.execute(SELECT + " WHERE id = %s", (space_id,)).fetchone()
        return None if row is None else _record(row)

    def load_all(self) -> list[SpaceRecord]:
        with self.db.transaction() as conn:
            rows = conn.execute(SELECT + " ORDER BY created_at, id").fetchall()
        return [_record(row) for row in rows]

    def save_seats(self, space_id: str, seats: list[Seat]) -> None:
        rows = [(space_id, s.id, s.name, s.role.value, s.state.value, s.since, s.muted,
                 s.muted_by_manager) for s in seats]
        with self.db.transaction() as conn, conn.cursor() as cur:
            cur.executemany(SAVE_SEAT, rows)

    def load_seats(self, space_id: str) -> list[Seat]:
        with self.db.transaction() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(SEAT_COLUMNS)} FROM seats WHERE space_id = %s "
                "ORDER BY since, seat_id", (space_id,)).fetchall()
        return [Seat(seat_id, name, Role(role), SeatState(state), since, muted, by_manager)
                for _, seat_id, name, role, state, since, muted, by_manager in rows]

    def ping(self) -> None:
        self.db.ping()

    def close(self) -> None:
        pass  # the pool belongs to the factory's Stores
