"""The host's captions switch of a space, kept with it (both dialects): NULL is the
operator's default, so every space made before keeps following it. Only
`SpaceStore.set_captions` writes it after the insert (docs/captions.md).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    boolean = "BOOLEAN" if op.get_bind().dialect.name == "postgresql" else "INTEGER"
    op.execute(f"ALTER TABLE spaces ADD COLUMN captions {boolean}")


def downgrade() -> None:
    op.execute("ALTER TABLE spaces DROP COLUMN captions")
