"""Reach: webhook endpoints, their delivery queue and log, and the host's analytics rows, in
both dialects (store/reach.py reads and writes them).

The queue is a table so deliveries survive a restart and every origin of a cluster sees one
queue: (endpoint, event) is unique, so the same event noticed by several origins is queued
once. Analytics keep one row per space per sample (every 10 s), bounded per space.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    real = "DOUBLE PRECISION" if pg else "REAL"
    serial = "BIGSERIAL PRIMARY KEY" if pg else "INTEGER PRIMARY KEY AUTOINCREMENT"
    op.execute(f"""
        CREATE TABLE webhook_endpoints (
            id TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            url TEXT NOT NULL,
            secret TEXT NOT NULL,
            events TEXT NOT NULL,
            created_at {real} NOT NULL,
            deleted_at {real}
        )""")
    op.execute(f"""
        CREATE TABLE webhook_deliveries (
            seq {serial},
            endpoint_id TEXT NOT NULL,
            event_id TEXT NOT NULL,
            event_type TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at {real} NOT NULL,
            next_at {real} NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL DEFAULT 'pending',
            UNIQUE (endpoint_id, event_id)
        )""")
    op.execute("CREATE INDEX webhook_deliveries_pending ON webhook_deliveries "
               "(state, endpoint_id, seq)")
    op.execute(f"""
        CREATE TABLE webhook_attempts (
            seq {serial},
            endpoint_id TEXT NOT NULL,
            event_id TEXT NOT NULL,
            event_type TEXT NOT NULL,
            at {real} NOT NULL,
            status INTEGER,
            error TEXT,
            duration_ms INTEGER NOT NULL
        )""")
    op.execute("CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, seq)")
    op.execute(f"""
        CREATE TABLE analytics_samples (
            space_id TEXT NOT NULL,
            at {real} NOT NULL,
            listeners INTEGER NOT NULL,
            joins INTEGER NOT NULL,
            leaves INTEGER NOT NULL,
            reactions INTEGER NOT NULL,
            waiting INTEGER NOT NULL,
            uniques INTEGER NOT NULL,
            PRIMARY KEY (space_id, at)
        )""")


def downgrade() -> None:
    for table in ("analytics_samples", "webhook_attempts", "webhook_deliveries",
                  "webhook_endpoints"):
        op.execute(f"DROP TABLE {table}")
