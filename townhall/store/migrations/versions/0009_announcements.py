"""The announcements outbox (store/reach.py, reach/outbox.py).

An event that must reach the webhooks once, whatever stops, gets a row here before the fact
it announces is made durable (a withdrawal) or as it forms (a captioned space's transcript):
the origin that will announce it holds the row (`held_until`, renewed while it works); when
that origin stops, the hold lapses and any origin takes the row (compare-and-set on
`held_until`), derives the event from the stored state and queues it. The queue keeps
(endpoint, event) once, so a row announced twice is delivered once. `state`: open, done, or
void (nothing to announce: given up after `webhook_give_up_s`, or the fact never came).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    real = "DOUBLE PRECISION" if pg else "REAL"
    op.execute(f"""
        CREATE TABLE webhook_announcements (
            event_id TEXT PRIMARY KEY,
            space_id TEXT NOT NULL,
            event_type TEXT NOT NULL,
            created_at {real} NOT NULL,
            held_until {real} NOT NULL,
            state TEXT NOT NULL DEFAULT 'open'
        )""")
    op.execute("CREATE INDEX webhook_announcements_open ON webhook_announcements "
               "(state, held_until)")


def downgrade() -> None:
    op.execute("DROP TABLE webhook_announcements")
