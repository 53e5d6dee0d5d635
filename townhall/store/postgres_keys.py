"""PostgreSQL store of API keys and space owners: `store.keys.KeyStore` for a cluster.

Same rows as the SQLite key store (migration 0004), in the database every origin shares: a
key issued on one origin (or by `townhall keys --database postgresql://...`) works on all of
them, and a revoked key is refused everywhere at the next lookup (nothing is cached). Control
path only; a database outage raises StoreUnavailable (503), like every store.
"""

from __future__ import annotations

from townhall.store.keys import ApiKey
from townhall.store.postgres import Postgres

KEY_COLUMNS = "id, name, role, key_hash, created_at, revoked_at"


class PostgresKeyStore:
    def __init__(self, db: Postgres) -> None:
        self.db = db

    def add(self, key: ApiKey) -> None:
        with self.db.transaction() as conn:
            conn.execute(f"INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s)",
                         (key.id, key.name, key.role, key.key_hash, key.created_at,
                          key.revoked_at))

    def _one(self, where: str, value: str) -> ApiKey | None:
        with self.db.transaction() as conn:
            row = conn.execute(f"SELECT {KEY_COLUMNS} FROM api_keys WHERE {where} = %s",
                               (value,)).fetchone()
        return ApiKey(*row) if row else None

    def by_hash(self, key_hash: str) -> ApiKey | None:
        return self._one("key_hash", key_hash)

    def by_id(self, key_id: str) -> ApiKey | None:
        return self._one("id", key_id)

    def list(self) -> list[ApiKey]:
        with self.db.transaction() as conn:
            rows = conn.execute(
                f"SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at").fetchall()
        return [ApiKey(*row) for row in rows]

    def revoke(self, key_id: str, now: float) -> ApiKey | None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE api_keys SET revoked_at = %s WHERE id = %s AND "
                         "revoked_at IS NULL", (now, key_id))
        return self.by_id(key_id)

    def record_space(self, space_id: str, owner: str, now: float) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO space_owners (space_id, owner, created_at) "
                         "VALUES (%s,%s,%s) ON CONFLICT (space_id) DO UPDATE SET "
                         "owner = EXCLUDED.owner, created_at = EXCLUDED.created_at",
                         (space_id, owner, now))

    def owner(self, space_id: str) -> str | None:
        with self.db.transaction() as conn:
            row = conn.execute("SELECT owner FROM space_owners WHERE space_id = %s",
                               (space_id,)).fetchone()
        return None if row is None else str(row[0])

    def created_since(self, owner: str, since: float) -> tuple[float, ...]:
        with self.db.transaction() as conn:
            rows = conn.execute("SELECT created_at FROM space_owners WHERE owner = %s AND "
                                "created_at > %s ORDER BY created_at", (owner, since)).fetchall()
        return tuple(float(r[0]) for r in rows)

    def owners(self) -> dict[str, str]:
        with self.db.transaction() as conn:
            rows = conn.execute("SELECT space_id, owner FROM space_owners").fetchall()
        return {str(space_id): str(owner) for space_id, owner in rows}

    def close(self) -> None:
        pass  # the pool belongs to the factory's Stores
