"""Spaces and their stage seats (both backends).

IF NOT EXISTS so that a SQLite file made before migrations were versioned is adopted as is.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    real = "DOUBLE PRECISION" if pg else "REAL"
    boolean = "BOOLEAN" if pg else "INTEGER"
    false = "FALSE" if pg else "0"
    op.execute(f"""
        CREATE TABLE IF NOT EXISTS spaces (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            host TEXT NOT NULL,
            host_key_hash TEXT NOT NULL,
            created_at {real} NOT NULL,
            scheduled_start {real},
            listener_cap BIGINT,
            phase TEXT NOT NULL,
            actual_start {real},
            ended_at {real},
            peak_listeners BIGINT NOT NULL DEFAULT 0,
            has_replay {boolean} NOT NULL DEFAULT {false}
        )""")
    op.execute(f"""
        CREATE TABLE IF NOT EXISTS seats (
            space_id TEXT NOT NULL,
            seat_id TEXT NOT NULL,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            state TEXT NOT NULL,
            since {real} NOT NULL,
            muted {boolean} NOT NULL,
            muted_by_manager {boolean} NOT NULL,
            PRIMARY KEY (space_id, seat_id)
        )""")
    op.execute("CREATE INDEX IF NOT EXISTS spaces_created_at ON spaces (created_at)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS seats")
    op.execute("DROP TABLE IF EXISTS spaces")
