"""Recordings in the database (PostgreSQL only): each space's init section, journal of the
open segment and seal, and every closed segment's bytes with its manifest entry, so that any
origin serves any replay and a closed segment is durable off the origin's disk.

SQLite deployments keep recordings as files (store/recording_files.py): nothing to do there.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE TABLE recordings (
            space_id TEXT PRIMARY KEY,
            init BYTEA NOT NULL,
            init_sha256 TEXT NOT NULL,
            complete BOOLEAN NOT NULL DEFAULT FALSE,
            signature TEXT,
            journal BYTEA,
            updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )""")
    op.execute("""
        CREATE TABLE recording_segments (
            space_id TEXT NOT NULL REFERENCES recordings (space_id) ON DELETE CASCADE,
            msn BIGINT NOT NULL,
            file TEXT NOT NULL,
            bytes INTEGER NOT NULL,
            duration DOUBLE PRECISION NOT NULL,
            program_date_time DOUBLE PRECISION NOT NULL,
            discontinuity BOOLEAN NOT NULL,
            sha256 TEXT NOT NULL,
            chain TEXT NOT NULL,
            data BYTEA NOT NULL,
            PRIMARY KEY (space_id, msn)
        )""")
    # the bytes are already AAC: compressing them again only costs CPU
    op.execute("ALTER TABLE recordings ALTER COLUMN init SET STORAGE EXTERNAL")
    op.execute("ALTER TABLE recordings ALTER COLUMN journal SET STORAGE EXTERNAL")
    op.execute("ALTER TABLE recording_segments ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TABLE recording_segments")
    op.execute("DROP TABLE recordings")
