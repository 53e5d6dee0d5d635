"""SQLite space store: the embedded default. One file, WAL mode, control path only.

Never called on the listener path; the services keep records in memory and write through.
Its tables come from the versioned migrations (store/schema.py), run by the factory.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import astuple, fields
from pathlib import Path
from typing import Any

from townhall.space.lifecycle import Phase
from townhall.space.roles import Role, Seat, SeatState
from townhall.space.space_record import SpaceRecord

COLUMNS = [f.name for f in fields(SpaceRecord)]
# ended is final: a late write of an older state never brings an ended space back; the host
# key hash is written once, at insert (replace_key_hash alone changes it), and so is the host's
# captions switch (set_captions)
UPDATED = [c for c in COLUMNS if c not in ("id", "host_key_hash", "captions")]
SAVE = (f"INSERT INTO spaces ({','.join(COLUMNS)}) VALUES ({','.join('?' for _ in COLUMNS)}) "
        f"ON CONFLICT (id) DO UPDATE SET "
        f"{', '.join(f'{c} = excluded.{c}' for c in UPDATED)} "
        "WHERE spaces.phase <> 'ended' OR excluded.phase = 'ended'")
SEAT_COLUMNS = "space_id, seat_id, name, role, state, since, muted, muted_by_manager"


def _record(row: tuple[Any, ...]) -> SpaceRecord:
    values = dict(zip(COLUMNS, row, strict=True))
    values["phase"] = Phase(values["phase"])
    values["has_replay"] = bool(values["has_replay"])
    if values["captions"] is not None:
        values["captions"] = bool(values["captions"])
    return SpaceRecord(**values)


class SqliteSpaceStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None,
                                     timeout=10.0)
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")

    def save(self, record: SpaceRecord) -> None:
        row = list(astuple(record))
        row[COLUMNS.index("phase")] = record.phase.value
        row[COLUMNS.index("has_replay")] = int(record.has_replay)
        if record.captions is not None:
            row[COLUMNS.index("captions")] = int(record.captions)
        with self._lock:
            self._conn.execute(SAVE, row)

    def key_hash(self, space_id: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT host_key_hash FROM spaces WHERE id = ?",
                                     (space_id,)).fetchone()
        return None if row is None else str(row[0])

    def replace_key_hash(self, space_id: str, old: str, new: str) -> bool:
        with self._lock:
            cur = self._conn.execute("UPDATE spaces SET host_key_hash = ? WHERE id = ? AND "
                                     "host_key_hash = ?", (new, space_id, old))
        return cur.rowcount == 1

    def set_captions(self, space_id: str, on: bool | None) -> None:
        with self._lock:
            self._conn.execute("UPDATE spaces SET captions = ? WHERE id = ?",
                               (None if on is None else int(on), space_id))

    def load(self, space_id: str) -> SpaceRecord | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {','.join(COLUMNS)} FROM spaces WHERE id = ?", (space_id,)).fetchone()
        return None if row is None else _record(row)

    def load_all(self) -> list[SpaceRecord]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {','.join(COLUMNS)} FROM spaces ORDER BY created_at, id").fetchall()
        return [_record(row) for row in rows]

    def save_seats(self, space_id: str, seats: list[Seat]) -> None:
        rows = [(space_id, s.id, s.name, s.role.value, s.state.value, s.since, int(s.muted),
                 int(s.muted_by_manager)) for s in seats]
        with self._lock:
            self._conn.executemany(
                f"INSERT OR REPLACE INTO seats ({SEAT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)", rows)

    def load_seats(self, space_id: str) -> list[Seat]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {SEAT_COLUMNS} FROM seats WHERE space_id = ? ORDER BY since, seat_id",
                (space_id,)).fetchall()
        return [Seat(seat_id, name, Role(role), SeatState(state), since, bool(muted),
                     bool(by_manager))
                for _, seat_id, name, role, state, since, muted, by_manager in rows]

    def ping(self) -> None:
        with self._lock:
            self._conn.execute("SELECT 1")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
