"""The verifiable record in the database (PostgreSQL only): each segment's AAC frame count and
digest, the manifest's init section and key seal, the signed live checkpoints and the host's
signed withdrawal, so any origin serves the record and verifies the replay.

Signed documents are kept as the JSON text they were sent as (TEXT, not JSONB: a statement's
`payload` is the exact text that was signed). SQLite deployments keep recordings as files.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE recording_segments "
               "ADD COLUMN frames INTEGER NOT NULL DEFAULT 0, "
               "ADD COLUMN frames_sha256 TEXT NOT NULL DEFAULT ''")
    # manifest_init: the init section as the manifest carries it (base64), NULL for
    # recordings made before it was (their seals do not cover it)
    op.execute("ALTER TABLE recordings "
               "ADD COLUMN manifest_init TEXT, "
               "ADD COLUMN key_seal TEXT, "
               "ADD COLUMN withdrawal TEXT")
    op.execute("""
        CREATE TABLE recording_checkpoints (
            space_id TEXT NOT NULL REFERENCES recordings (space_id) ON DELETE CASCADE,
            msn BIGINT NOT NULL,
            doc TEXT NOT NULL,
            PRIMARY KEY (space_id, msn)
        )""")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TABLE recording_checkpoints")
    op.execute("ALTER TABLE recordings DROP COLUMN withdrawal, DROP COLUMN key_seal, "
               "DROP COLUMN manifest_init")
    op.execute("ALTER TABLE recording_segments DROP COLUMN frames_sha256, DROP COLUMN frames")
