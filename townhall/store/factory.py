"""The one place that picks the backends: PostgreSQL when the settings name a database URL,
else SQLite and recording files (the embedded default). Services get the Protocols of
store/base.py and never ask which backend they hold.

It also checks the schema before anything is served (store/schema.py): SQLite migrates
itself; PostgreSQL refuses an old schema unless `migrate_on_start`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from townhall.settings import Settings
from townhall.store.base import RecordingStore, SpaceStore
from townhall.store.keys import KeyStore
from townhall.store.reach import ReachStore
from townhall.store.schema import Database, check

if TYPE_CHECKING:
    from townhall.store.postgres import Postgres

log = logging.getLogger("townhall.store")


@dataclass
class Stores:
    spaces: SpaceStore
    recordings: RecordingStore
    database: Database
    keys: KeyStore  # hosting credentials (API keys and space owners)
    reach: ReachStore  # webhook endpoints, their queue and log; analytics rows
    pool: Postgres | None = None  # the PostgreSQL adapters' shared pool, when they are used

    def ping(self) -> None:
        """Raise StoreUnavailable unless every store answers now (readiness)."""
        self.spaces.ping()
        self.recordings.ping()

    def healthy(self) -> bool:
        """False while the database is known to be unreachable (no call made to find out)."""
        return self.pool is None or not self.pool.down.is_set()

    def close(self) -> None:
        self.spaces.close()
        self.recordings.close()
        self.keys.close()
        self.reach.close()
        if self.pool is not None:
            self.pool.close()


def database_of(settings: Settings) -> Database:
    if settings.store.database_url:
        return Database.parse(settings.store.database_url)
    return Database(path=settings.store.database_path)


def open_stores(settings: Settings) -> Stores:
    """Raises SchemaError or StoreUnavailable (their messages say what to do)."""
    db = database_of(settings)
    done = check(db, migrate_if_old=settings.store.migrate_on_start or not db.is_postgres)
    if done:
        log.info(done)
    if db.url is not None:
        from townhall.store.postgres import Postgres
        from townhall.store.postgres_keys import PostgresKeyStore
        from townhall.store.postgres_recordings import PostgresRecordings
        from townhall.store.postgres_spaces import PostgresSpaceStore

        pg = Postgres(db.url, pool_size=settings.store.store_pool_size,
                      timeout_s=settings.store.store_timeout_s,
                      retry_s=settings.store.store_retry_s)
        return Stores(PostgresSpaceStore(pg), PostgresRecordings(pg), db,
                      PostgresKeyStore(pg), ReachStore(pg=pg), pg)
    from townhall.store.recording_files import FileRecordings
    from townhall.store.sqlite import SqliteSpaceStore
    from townhall.store.sqlite_keys import SqliteKeyStore

    assert db.path is not None
    return Stores(SqliteSpaceStore(db.path), FileRecordings(settings.store.recordings_path), db,
                  SqliteKeyStore(db.path), ReachStore(path=db.path))
