"""SQLite space store: the embedded default. One file, WAL mode, control path only.

Never called on the listener path; the services keep records in memory and write through.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import astuple, fields
from pathlib import Path

from townhall.space.lifecycle import Phase
from townhall.space.record import SpaceRecord

COLUMNS = [f.name for f in fields(SpaceRecord)]
SCHEMA = """
CREATE TABLE IF NOT EXISTS spaces (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    host TEXT NOT NULL,
    host_key_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    scheduled_start REAL,
    listener_cap INTEGER,
    phase TEXT NOT NULL,
    actual_start REAL,
    ended_at REAL,
    peak_listeners INTEGER NOT NULL DEFAULT 0,
    has_replay INTEGER NOT NULL DEFAULT 0
)
"""


class SqliteSpaceStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(SCHEMA)

    def save(self, record: SpaceRecord) -> None:
        row = list(astuple(record))
        row[COLUMNS.index("phase")] = record.phase.value
        row[COLUMNS.index("has_replay")] = int(record.has_replay)
        marks = ",".join("?" for _ in COLUMNS)
        with self._lock:
            self._conn.execute(
                f"INSERT OR REPLACE INTO spaces ({','.join(COLUMNS)}) VALUES ({marks})", row)

    def load_all(self) -> list[SpaceRecord]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {','.join(COLUMNS)} FROM spaces ORDER BY created_at").fetchall()
        out = []
        for row in rows:
            values = dict(zip(COLUMNS, row, strict=True))
            values["phase"] = Phase(values["phase"])
            values["has_replay"] = bool(values["has_replay"])
            out.append(SpaceRecord(**values))
        return out

    def close(self) -> None:
        with self._lock:
            self._conn.close()
