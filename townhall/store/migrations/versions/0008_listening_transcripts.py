"""Listening seats and transcripts (store/reach.py).

Listening seats: each seat's tickets as the origins saw them, so the host's analytics give a
median listening time with tickets on (admission/listening.py).

One row per (space, seat), merged by whichever origin writes: the earliest grant, the latest
renewal and ticket, the shortest renewal interval, the leave. Bounded per space by
`analytics_max_keys` seats on each origin.

Transcript segments: the live captions' published WebVTT segments that hold a cue, by the
audio segment's number, kept for the replay's transcript (reach/transcript.py); written once
by the origin that captions the program (a standby's repeat is ignored).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    real = "DOUBLE PRECISION" if pg else "REAL"
    op.execute(f"""
        CREATE TABLE listening_seats (
            space_id TEXT NOT NULL,
            seat TEXT NOT NULL,
            first_at {real} NOT NULL,
            last_at {real} NOT NULL,
            until_at {real} NOT NULL,
            gap_s {real},
            left_at {real},
            PRIMARY KEY (space_id, seat)
        )""")
    op.execute("""
        CREATE TABLE transcript_segments (
            space_id TEXT NOT NULL,
            msn INTEGER NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (space_id, msn)
        )""")


def downgrade() -> None:
    op.execute("DROP TABLE transcript_segments")
    op.execute("DROP TABLE listening_seats")
