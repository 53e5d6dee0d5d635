"""A new embedded database is made from the SQLite schema snapshot, and the snapshot is exactly
what the migrations make (so the two can never drift apart)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from townhall.store.schema import (
    HEAD,
    SQLITE_SNAPSHOT,
    Database,
    check,
    current_version,
    migrate,
    sqlite_statements,
)


def test_the_snapshot_is_what_the_migrations_make(tmp_path: Path) -> None:
    migrated = tmp_path / "migrated.sqlite3"
    migrate(Database(path=migrated))
    head, _, body = SQLITE_SNAPSHOT.read_text().partition("\n")
    assert head == f"-- schema {HEAD}", "run `python -m townhall.store.schema`"
    assert body == "".join(f"{s};\n" for s in sqlite_statements(migrated)), (
        "the snapshot is stale: run `python -m townhall.store.schema`")


def test_a_new_database_is_made_from_the_snapshot_at_head_far_faster_than_migrating(
        tmp_path: Path) -> None:
    fresh, migrated = tmp_path / "new" / "fresh.sqlite3", tmp_path / "migrated.sqlite3"
    migrate(Database(path=tmp_path / "warm.sqlite3"))  # Alembic imported: not counted below
    started = time.perf_counter()
    line = check(Database(path=fresh), migrate_if_old=True)
    made = time.perf_counter() - started
    started = time.perf_counter()
    migrate(Database(path=migrated))
    migrating = time.perf_counter() - started
    assert line == f"created {fresh} at schema {HEAD}"
    # a baseline in the same run, not a figure: a busy machine slows both alike (measured on
    # a loaded 2-core box: 12-32 ms against 87-178 ms, and about a second of importing Alembic
    # on top of that when a process migrates first)
    assert made < migrating / 3, (made, migrating)
    assert current_version(Database(path=fresh)) == HEAD
    assert sqlite_statements(fresh) == sqlite_statements(migrated)
    assert not list(fresh.parent.glob(".*.new"))  # the scratch file is gone
    assert check(Database(path=fresh), migrate_if_old=False) is None  # at HEAD: nothing to do


def test_an_existing_database_is_never_replaced_by_the_snapshot(tmp_path: Path) -> None:
    old = tmp_path / "old.sqlite3"
    lite = sqlite3.connect(str(old))
    lite.execute("CREATE TABLE keep_me (x INTEGER)")
    lite.commit()
    lite.close()
    line = check(Database(path=old), migrate_if_old=True)
    assert line == f"migrated {old} from schema none to {HEAD}"  # migrated in place
    lite = sqlite3.connect(str(old))
    assert lite.execute("SELECT count(*) FROM keep_me").fetchone() == (0,)
    lite.close()
