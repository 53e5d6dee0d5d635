"""SQLite store of API keys and space owners: the embedded default of `store.keys.KeyStore`.

Shares the database file with the space store (its own connection, WAL mode), so that the
`townhall keys` command can issue and revoke keys while the server runs: every lookup reads
the table, nothing is cached. Control path only.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from townhall.store.keys import ApiKey

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS api_keys (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE, created_at REAL NOT NULL, revoked_at REAL)""",
    """CREATE TABLE IF NOT EXISTS space_owners (
        space_id TEXT PRIMARY KEY, owner TEXT NOT NULL, created_at REAL NOT NULL)""",
)
KEY_COLUMNS = "id, name, role, key_hash, created_at, revoked_at"


class SqliteKeyStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None,
                                     timeout=10)
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            for statement in SCHEMA:
                self._conn.execute(statement)

    def add(self, key: ApiKey) -> None:
        with self._lock:
            self._conn.execute(f"INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?,?,?,?,?,?)",
                               (key.id, key.name, key.role, key.key_hash, key.created_at,
                                key.revoked_at))

    def by_hash(self, key_hash: str) -> ApiKey | None:
        with self._lock:
            row = self._conn.execute(f"SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = ?",
                                     (key_hash,)).fetchone()
        return ApiKey(*row) if row else None

    def by_id(self, key_id: str) -> ApiKey | None:
        with self._lock:
            row = self._conn.execute(f"SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?",
                                     (key_id,)).fetchone()
        return ApiKey(*row) if row else None

    def list(self) -> list[ApiKey]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at").fetchall()
        return [ApiKey(*row) for row in rows]

    def revoke(self, key_id: str, now: float) -> ApiKey | None:
        with self._lock:
            self._conn.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND "
                               "revoked_at IS NULL", (now, key_id))
            row = self._conn.execute(f"SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?",
                                     (key_id,)).fetchone()
        return ApiKey(*row) if row else None

    def record_space(self, space_id: str, owner: str, now: float) -> None:
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO space_owners VALUES (?,?,?)",
                               (space_id, owner, now))

    def owner(self, space_id: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT owner FROM space_owners WHERE space_id = ?",
                                     (space_id,)).fetchone()
        return None if row is None else str(row[0])

    def created_since(self, owner: str, since: float) -> tuple[float, ...]:
        with self._lock:
            rows = self._conn.execute("SELECT created_at FROM space_owners WHERE owner = ? AND "
                                      "created_at > ? ORDER BY created_at",
                                      (owner, since)).fetchall()
        return tuple(float(r[0]) for r in rows)

    def owners(self) -> dict[str, str]:
        with self._lock:
            rows = self._conn.execute("SELECT space_id, owner FROM space_owners").fetchall()
        return {space_id: owner for space_id, owner in rows}

    def close(self) -> None:
        with self._lock:
            self._conn.close()
