"""Which database a deployment names, and whether its schema is the one this code needs.

The schema is versioned with Alembic (migrations/versions, one file per concern: a new table
is a new revision). `townhall migrate` runs them; `serve` checks the version at start: the
embedded SQLite default migrates itself, a PostgreSQL cluster refuses to start on an old
schema unless told to migrate (several hosts must not race to change a shared database).
Reading the version needs no Alembic import, so a normal start stays fast.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from townhall.store.base import StoreUnavailable

# the newest revision in migrations/versions (a test keeps the two in step)
HEAD = "0009"
MIGRATE_LOCK = 0x7465_776E  # pg_advisory_xact_lock key: one migration at a time


class SchemaError(Exception):
    """The database's schema cannot be used by this code; the message says what to do."""


@dataclass(frozen=True)
class Database:
    """A PostgreSQL URL (postgresql://user@host:port/db) or a SQLite file."""

    url: str | None = None
    path: Path | None = None

    @classmethod
    def parse(cls, spec: str) -> Database:
        if spec.startswith(("postgresql://", "postgres://")):
            return cls(url=spec)
        if spec.startswith("sqlite:///"):
            return cls(path=Path(spec.removeprefix("sqlite:///")))
        if "://" in spec:
            raise ValueError(f"--database: {spec.split('://')[0]}:// is not supported; give "
                             "postgresql://... or a SQLite file path")
        return cls(path=Path(spec))

    @property
    def is_postgres(self) -> bool:
        return self.url is not None

    @property
    def shown(self) -> str:
        """The name to print: the URL without a password."""
        if self.url is None:
            return str(self.path)
        scheme, _, rest = self.url.partition("://")
        creds, at, host = rest.rpartition("@")
        return f"{scheme}://{creds.split(':')[0]}{at}{host}" if at else self.url

    def sqlalchemy_url(self) -> str:
        if self.url is not None:
            return "postgresql+psycopg://" + self.url.partition("://")[2]
        return f"sqlite:///{self.path}"


def current_version(db: Database) -> str | None:
    """The revision the database is at; None when it was never migrated."""
    if db.url is not None:
        import psycopg

        try:
            with psycopg.connect(db.url, connect_timeout=5) as conn:
                exists = conn.execute("SELECT to_regclass('alembic_version')").fetchone()
                if exists is None or exists[0] is None:
                    return None
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
                return None if row is None else str(row[0])
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"cannot reach {db.shown}: {_first_line(exc)}") from exc
    assert db.path is not None
    if not db.path.exists():
        return None
    lite = sqlite3.connect(str(db.path))
    try:
        row = lite.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:  # no such table
        return None
    finally:
        lite.close()
    return None if row is None else str(row[0])


def migrate(db: Database) -> tuple[str | None, str]:
    """Bring the schema to HEAD; returns (from, to). Safe to run on several hosts at once."""
    logging.getLogger("alembic").setLevel(logging.WARNING)  # we say what was done ourselves
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    before = current_version(db)
    if db.path is not None:
        db.path.parent.mkdir(parents=True, exist_ok=True)
    cfg = Config()
    cfg.set_main_option("script_location", "townhall.store:migrations")
    if db.url is not None:
        import psycopg

        url = db.url  # libpq's own URL (several hosts allowed), not SQLAlchemy's reading of it
        engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(url))
    else:
        engine = create_engine(db.sqlalchemy_url())
    try:
        with engine.begin() as conn:
            if db.is_postgres:
                conn.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATE_LOCK})"))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        raise StoreUnavailable(f"cannot migrate {db.shown}: {_first_line(exc)}") from exc
    finally:
        engine.dispose()
    return before, HEAD


# The SQLite schema at HEAD, as the migrations leave it (sqlite_master's statements in order):
# a new embedded database is made from it in milliseconds instead of importing Alembic and
# running every migration (about a second of CPU). tests/store/test_schema_snapshot.py keeps it
# equal to what the migrations make; `python -m townhall.store.schema` rewrites it.
SQLITE_SNAPSHOT = Path(__file__).with_name("sqlite_schema.sql")


def sqlite_statements(path: Path) -> list[str]:
    """The statements that make a SQLite database's schema, in the order they were made."""
    lite = sqlite3.connect(str(path))
    try:
        rows = lite.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL "
                            "AND name NOT LIKE 'sqlite_%' ORDER BY rowid").fetchall()
    finally:
        lite.close()
    return [str(r[0]) for r in rows]


def _create_from_snapshot(db: Database) -> bool:
    """Make a new SQLite database at HEAD from the snapshot; False when there is none to use
    (the caller migrates). A file that already exists is never touched."""
    assert db.path is not None
    try:
        text = SQLITE_SNAPSHOT.read_text()
    except OSError:
        return False
    head, _, body = text.partition("\n")
    if head != f"-- schema {HEAD}":
        return False  # written for another revision: migrate instead
    db.path.parent.mkdir(parents=True, exist_ok=True)
    tmp = db.path.with_name(f".{db.path.name}.new")
    tmp.unlink(missing_ok=True)
    lite = sqlite3.connect(str(tmp))
    try:
        # one transaction: one sync to disk, not one per statement
        lite.executescript(f"BEGIN;\n{body}INSERT INTO alembic_version (version_num) "
                           f"VALUES ('{HEAD}');\nCOMMIT;")
    finally:
        lite.close()
    try:
        os.link(tmp, db.path)  # fails if another process made the database meanwhile
    except FileExistsError:
        return True  # theirs is at least as good: check() reads it again
    finally:
        tmp.unlink(missing_ok=True)
    return True


def write_snapshot() -> Path:
    """Migrate a scratch SQLite database to HEAD and keep its schema as the snapshot."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "head.sqlite3"
        migrate(Database(path=path))
        statements = sqlite_statements(path)
    SQLITE_SNAPSHOT.write_text(f"-- schema {HEAD}\n" + "".join(f"{s};\n" for s in statements))
    return SQLITE_SNAPSHOT


def check(db: Database, *, migrate_if_old: bool) -> str | None:
    """Raise SchemaError unless the schema is at HEAD (after migrating, when allowed).
    Returns a line to log when it migrated."""
    version = current_version(db)
    if version == HEAD:
        return None
    if (version is None and migrate_if_old and db.path is not None and not db.path.exists()
            and _create_from_snapshot(db) and current_version(db) == HEAD):
        return f"created {db.shown} at schema {HEAD}"
    if version is not None and version > HEAD:
        raise SchemaError(f"the database {db.shown} is at schema {version}, newer than this "
                          f"townhall knows ({HEAD}): upgrade townhall")
    if not migrate_if_old:
        raise SchemaError(f"the database {db.shown} is at schema {version or 'none'}, this "
                          f"townhall needs {HEAD}: run `townhall migrate --database "
                          f"{db.shown}` (or serve with --migrate)")
    before, after = migrate(db)
    return f"migrated {db.shown} from schema {before or 'none'} to {after}"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


if __name__ == "__main__":
    print(f"wrote {write_snapshot()}")
