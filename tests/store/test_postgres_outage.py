"""PostgreSQL stopped under an open store: calls fail fast with StoreUnavailable (never a
hang), a call made on the event loop never waits long, and the store comes back by itself."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from harness.postgres import Postgres
from townhall.settings import Settings
from townhall.store.base import StoreUnavailable
from townhall.store.factory import open_stores


def test_calls_during_a_restart_fail_fast_and_the_store_comes_back_by_itself(
        postgres: Postgres, pg_url: str, tmp_path: Path) -> None:
    stores = open_stores(Settings.of(data_dir=tmp_path, database_url=pg_url,
                                  migrate_on_start=True))
    try:
        stores.ping()
        postgres.stop()
        try:
            async def on_the_loop() -> float:
                t0 = time.monotonic()
                with pytest.raises(StoreUnavailable):
                    stores.spaces.load_seats("sp")  # a stage call, made on the event loop
                return time.monotonic() - t0

            assert asyncio.run(on_the_loop()) < 0.6
            deadline = time.monotonic() + 5
            while stores.healthy():  # the watcher finds the outage by itself
                assert time.monotonic() < deadline
                time.sleep(0.05)
            t0 = time.monotonic()
            with pytest.raises(StoreUnavailable):
                stores.spaces.load_all()
            assert time.monotonic() - t0 < 0.05  # refused at once while it is known down
        finally:
            postgres.start()
        deadline = time.monotonic() + 10
        while True:
            try:
                stores.ping()
                break
            except StoreUnavailable:
                assert time.monotonic() < deadline, "the store did not come back by itself"
                time.sleep(0.05)
        assert stores.healthy() and stores.spaces.load_seats("sp") == []
    finally:
        stores.close()
