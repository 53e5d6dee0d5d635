"""The signed downloadable replay, kept once in the database every origin shares.

C2PA signing is not deterministic (a time, instance ids, an ECDSA signature), so origins that
each signed their own copy would answer the same URL with different bytes, and a download
resumed (Range) on another origin would be corrupt. The first origin to sign keeps its bytes
here; every origin serves those. PostgreSQL only: SQLite deployments keep recordings, and
this file, on the origin's disk (store/recording_files.py).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE TABLE recording_downloads (
            space_id TEXT PRIMARY KEY REFERENCES recordings (space_id) ON DELETE CASCADE,
            data BYTEA NOT NULL,
            sha256 TEXT NOT NULL
        )""")
    # already AAC: compressing it again only costs CPU
    op.execute("ALTER TABLE recording_downloads ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TABLE recording_downloads")
