"""Versioned schema: `townhall migrate` brings either backend to the newest revision, serve
refuses an unmigrated PostgreSQL in one line, and SQLite files from before versioning are
adopted as they are."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from townhall.settings import Settings
from townhall.store.factory import open_stores
from townhall.store.schema import HEAD, Database, current_version


def townhall(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "townhall.cli", *args], capture_output=True,
                          text=True, timeout=60)


def test_head_names_the_newest_migration() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", "townhall.store:migrations")
    assert ScriptDirectory.from_config(cfg).get_heads() == [HEAD]


def test_migrate_brings_a_new_database_to_the_newest_schema_once(database: str) -> None:
    first = townhall("migrate", "--database", database)
    assert first.returncode == 0, first.stderr
    assert f"migrated from none to schema {HEAD}" in first.stdout
    again = townhall("migrate", "--database", database)
    assert again.returncode == 0 and f"already at schema {HEAD}" in again.stdout
    assert current_version(Database.parse(database)) == HEAD


def test_serve_refuses_an_unmigrated_postgresql_in_one_line(pg_url: str,
                                                             tmp_path: Path) -> None:
    res = townhall("serve", "--database", pg_url, "--data-dir", str(tmp_path), "--port", "9")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "townhall migrate --database" in lines[0], res.stderr
    assert "none" in lines[0] and HEAD in lines[0]


def test_an_unknown_database_scheme_is_a_one_line_error(tmp_path: Path) -> None:
    res = townhall("serve", "--database", "mysql://x@h/db", "--data-dir", str(tmp_path))
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0
    assert "postgresql://" in res.stderr


def test_an_unreachable_postgresql_is_a_one_line_error(tmp_path: Path) -> None:
    from harness.server import free_port

    res = townhall("migrate", "--database", f"postgresql://u@127.0.0.1:{free_port()}/db")
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0
    assert "cannot reach" in res.stderr


def test_a_sqlite_file_from_before_versioning_is_adopted_with_its_spaces(
        tmp_path: Path) -> None:
    path = tmp_path / "data" / "townhall.sqlite3"
    path.parent.mkdir()
    old = sqlite3.connect(path)
    old.execute("""CREATE TABLE spaces (id TEXT PRIMARY KEY, title TEXT NOT NULL,
        host TEXT NOT NULL, host_key_hash TEXT NOT NULL, created_at REAL NOT NULL,
        scheduled_start REAL, listener_cap INTEGER, phase TEXT NOT NULL, actual_start REAL,
        ended_at REAL, peak_listeners INTEGER NOT NULL DEFAULT 0,
        has_replay INTEGER NOT NULL DEFAULT 0)""")
    old.execute("INSERT INTO spaces VALUES ('old1', 'Before', 'Host', 'h', 1.0, NULL, NULL, "
                "'ended', 2.0, 3.0, 7, 1)")
    old.commit()
    old.close()
    stores = open_stores(Settings.of(data_dir=tmp_path / "data"))
    try:
        [record] = stores.spaces.load_all()
        assert record.id == "old1" and record.has_replay and record.peak_listeners == 7
        assert current_version(Database(path=path)) == HEAD
    finally:
        stores.close()
