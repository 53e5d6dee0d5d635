from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

import harness.server
from harness.postgres import Postgres, start_postgres
from harness.server import Server, start_server, stop_server
from townhall.settings import Settings
from townhall.store.factory import Stores, open_stores
from townhall.store.schema import Database

pytest_plugins = ["tests.profile"]  # TOWNHALL_TEST_PROFILE=FILE: where the time goes

# Hypothesis's per-example deadline (200 ms) times the machine, not the code: on a shared
# 2-core box beside other tests an example is sometimes slower, and that is not a failure
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")

if os.environ.get("PYTEST_XDIST_WORKER") and not os.environ.get("TOWNHALL_TIMING_GROUP"):
    # Tests running side by side (scripts/test's first pass) share the CPU, so an origin's
    # event-loop lag is its neighbours' work: its lag ceilings for shedding are raised 20x
    # (as the tests that ran beside busy work already did with CALM). Shedding itself is
    # tested sans-IO (tests/admission) and by the timing tests, which run alone with the
    # defaults; a test that sets shed_lag_scale itself keeps its own.
    harness.server.EXTRA_ARGS = ("--set", "shed_lag_scale=20")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path / "data")
    try:
        yield srv
    finally:
        stop_server(srv)


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One origin for a whole module whose tests each make their own spaces: starting an
    origin costs seconds on a busy machine, and most tests need a fresh space, not a fresh
    process. A module opts in by overriding `server` with a module-scoped fixture returning
    this one."""
    srv = start_server(tmp_path_factory.mktemp("origin") / "data")
    try:
        yield srv
    finally:
        stop_server(srv)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One real PostgreSQL for the whole session (each test takes its own database)."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def pg_url(postgres: Postgres) -> str:
    """A fresh, empty database's URL, on the session's PostgreSQL."""
    if not postgres.running():  # a test that stopped it and failed before starting it
        postgres.start()
    return postgres.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """`--database` for each backend: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "store.sqlite3")
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def open_store(database: str, tmp_path: Path) -> Iterator[Callable[[], Stores]]:
    """Opens the parametrized backend's stores, as a (re)started process would; closes them."""
    opened: list[Stores] = []

    def make() -> Stores:
        db = Database.parse(database)
        settings = Settings.of(data_dir=tmp_path / "data", database=db.path, database_url=db.url,
                            migrate_on_start=True)
        opened.append(open_stores(settings))
        return opened[-1]

    yield make
    for stores in opened:
        stores.close()
