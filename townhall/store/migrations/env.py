"""Alembic's entry: runs the versioned migrations on the connection `schema.migrate` opened.

Never builds its own engine and never reads the environment: `townhall migrate` decides what
database it is and holds the lock that keeps two hosts from migrating at once.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
