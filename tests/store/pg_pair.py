"""A PostgreSQL pair on loopback: a primary of its own (never the session's) and a streaming
replica made by pg_basebackup, both Debian's binaries run as `postgres`, on free ports in temp
dirs; `url` is the libpq multi-host URL an origin is given for the pair."""

from __future__ import annotations

import os
import pwd
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from harness.postgres import PG_BIN, Postgres, _as_postgres, start_postgres
from harness.server import free_port


@dataclass
class Pair:
    primary: Postgres
    replica: Postgres
    database: str

    @property
    def url(self) -> str:
        hosts = f"127.0.0.1:{self.primary.port},127.0.0.1:{self.replica.port}"
        return (f"postgresql://postgres@{hosts}/{self.database}"
                "?target_session_attrs=read-write&connect_timeout=1")

    def kill_primary(self) -> None:
        """Stop the primary hard (immediate: no checkpoint, clients cut off)."""
        self.primary._ctl("-m", "immediate", "-w", "-t", "30", "stop")

    def promote(self) -> None:
        self.replica._ctl("-w", "-t", "30", "promote")


def _replica_of(primary: Postgres) -> Postgres:
    root = Path(tempfile.mkdtemp(prefix="townhall-pg-replica-"))
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(root, pg.pw_uid, pg.pw_gid)
    replica = Postgres(root, free_port())
    subprocess.run(_as_postgres([str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p",
                                 str(primary.port), "-U", "postgres", "-D", str(replica.data),
                                 "-R", "-X", "stream", "-c", "fast", "--no-sync"]),
                   check=True, capture_output=True, timeout=120)
    try:
        replica.start()
    except subprocess.CalledProcessError:
        log = replica.root / "log"
        raise RuntimeError("the replica did not start: " +
                           (log.read_text()[-2000:] if log.exists() else "no log")) from None
    return replica


@contextmanager
def postgres_pair(*, synchronous: bool = False) -> Iterator[Pair]:
    """`synchronous`: the primary acknowledges a commit only once the replica holds it
    (`synchronous_standby_names = '*'`, set after the base backup so the replica, once
    promoted, does not wait for a standby of its own)."""
    primary = start_postgres()
    replica = None
    try:
        name = primary.new_database().rsplit("/", 1)[1]
        replica = _replica_of(primary)
        deadline = time.monotonic() + 30
        while True:  # streaming: the primary sees its replica
            with psycopg.connect(primary.url(), autocommit=True) as conn:
                row = conn.execute("SELECT count(*) FROM pg_stat_replication "
                                   "WHERE state = 'streaming'").fetchone()
            if row is not None and row[0] >= 1:
                break
            assert time.monotonic() < deadline, "the replica never streamed"
            time.sleep(0.1)
        if synchronous:
            with psycopg.connect(primary.url(), autocommit=True) as conn:
                conn.execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
                conn.execute("SELECT pg_reload_conf()")
                while True:
                    row = conn.execute("SELECT count(*) FROM pg_stat_replication "
                                       "WHERE sync_state = 'sync'").fetchone()
                    if row is not None and row[0] >= 1:
                        break
                    assert time.monotonic() < deadline + 30, "the replica never became sync"
                    time.sleep(0.1)
        yield Pair(primary, replica, name)
    finally:
        if replica is not None:
            replica.close()
        primary.close()
