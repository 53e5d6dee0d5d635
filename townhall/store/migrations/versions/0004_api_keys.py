"""Hosting credentials: operator-issued API keys (SHA-256 only) and which key created which
space, in both dialects, so that every origin of a cluster knows every key and a key revoked
on one origin is refused on all of them.

The SQLite key store (store/sqlite_keys.py) creates the same tables itself (IF NOT EXISTS), so
a database from before versioning is adopted unchanged.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    real = "DOUBLE PRECISION" if op.get_bind().dialect.name == "postgresql" else "REAL"
    op.execute(f"""
        CREATE TABLE IF NOT EXISTS api_keys (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            key_hash TEXT NOT NULL UNIQUE,
            created_at {real} NOT NULL,
            revoked_at {real}
        )""")
    op.execute(f"""
        CREATE TABLE IF NOT EXISTS space_owners (
            space_id TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            created_at {real} NOT NULL
        )""")


def downgrade() -> None:
    op.execute("DROP TABLE space_owners")
    op.execute("DROP TABLE api_keys")
