"""The connection pool every PostgreSQL adapter shares: one per process, sync (psycopg 3).

Sync, not async: the store interfaces are blocking calls the services already run in worker
threads (`asyncio.to_thread`, the recorder's writer), all on the control path, so a small
thread-safe pool serves them without a second event loop discipline. The pool checks a
connection before lending it, so connections broken by a PostgreSQL restart are dropped and
replaced by themselves. A failure to reach the database becomes StoreUnavailable; from then
on calls fail at once (an outage answers 503 fast and holds no thread). One watcher thread
pings every `retry_s` on a connection of its own, so an outage is found before callers wait
on it, and while it lasts tries a fresh connection at that pace; the first that succeeds
opens the way again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import psycopg_pool
from psycopg_pool import ConnectionPool, PoolTimeout

from townhall.ops.metrics import STORE_ERRORS
from townhall.store.base import StoreUnavailable

log = logging.getLogger("townhall.store")
LOOP_WAIT_S = 0.25  # longest wait for a connection by a call made on the event loop
# the pool logs each failed reconnection; we log the outage once, and when it ends
logging.getLogger("psycopg.pool").setLevel(logging.ERROR)


class Postgres:
    def __init__(self, url: str, *, pool_size: int, timeout_s: float, retry_s: float) -> None:
        self.url = url
        self.retry_s = retry_s or 1.0
        self.timeout_s = timeout_s
        self.down = threading.Event()  # set while the database is known unreachable
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._down_since = 0.0
        self.failures = 0  # calls that found the database unreachable
        self.pool = ConnectionPool(
            url, min_size=1, max_size=pool_size, timeout=timeout_s, open=False,
            check=ConnectionPool.check_connection, reconnect_timeout=3600.0,
            kwargs={"connect_timeout": max(1, round(timeout_s)), "autocommit": False,
                    "options": f"-c statement_timeout={round(timeout_s * 1000) * 5}"},
            name="townhall")
        self.pool.open(wait=False)
        self._watch = threading.Thread(target=self._watcher, daemon=True, name="townhall-pg")
        self._watch.start()

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """A connection in a transaction, committed when the block ends without an error."""
        if self.down.is_set():
            STORE_ERRORS.inc()
            raise StoreUnavailable("PostgreSQL is unreachable; retrying in the background")
        # a few stage calls are made on the event loop (as they were with SQLite): there, never
        # wait long for a connection, whatever the pool's timeout; media must not stall
        on_loop = _on_event_loop()
        try:
            with self.pool.connection(
                    timeout=min(self.timeout_s, LOOP_WAIT_S) if on_loop else None) as conn:
                yield conn
        except PoolTimeout as exc:
            if not on_loop:
                self._mark_down(exc)
            raise StoreUnavailable(f"PostgreSQL is unreachable: {_first_line(exc)}") from exc
        except psycopg.OperationalError as exc:
            self._mark_down(exc)
            raise StoreUnavailable(f"PostgreSQL is unreachable: {_first_line(exc)}") from exc

    def _mark_down(self, exc: BaseException) -> None:
        STORE_ERRORS.inc()
        with self._lock:
            self.failures += 1
            if self.down.is_set() or self._closed.is_set():
                return
            self._down_since = time.monotonic()
            self.down.set()
        log.warning("PostgreSQL unreachable (%s); answering 503 until it is back",
                    _first_line(exc))

    def _watcher(self) -> None:
        """Every retry_s, `SELECT 1` on a connection of its own (not the pool's: a pool waits
        out its timeout before it admits a failure). A restart breaks that connection at
        once, so an outage is found before callers wait on it; while it lasts, a fresh
        connection is tried at the same pace, and the first that works opens the way again."""
        conn: psycopg.Connection | None = None
        while not self._closed.wait(self.retry_s):
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.url, autocommit=True,
                                           connect_timeout=max(1, round(self.timeout_s)))
                conn.execute("SELECT 1")
            except psycopg.Error as exc:
                if conn is not None:
                    conn.close()
                conn = None
                self._mark_down(exc)
                continue
            if self.down.is_set():
                with contextlib.suppress(psycopg_pool.PoolClosed):
                    self.pool.check()  # drop the pool's connections that the outage broke
                self.down.clear()
                log.warning("PostgreSQL is back after %.1f s",
                            time.monotonic() - self._down_since)
        if conn is not None:
            conn.close()

    def ping(self) -> None:
        with self.transaction() as conn:
            conn.execute("SELECT 1")

    def close(self) -> None:
        self._closed.set()
        self.pool.close()


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
