"""A real PostgreSQL for tests: Debian's binaries, its own cluster in a temp dir, a free port.

As root (CI), initdb and pg_ctl run as the unprivileged `postgres` user through runuser, on a
data dir chowned to it; as anyone else, as that user. Trust authentication on loopback only,
fsync off (tests do not pull the power). `stop()` and `start()` restart it in place (outage
tests); `close()` removes everything, even after a failure.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from harness.server import free_port


def _newest_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                   else 0)
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _newest_bin()


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class Postgres:
    root: Path
    port: int
    databases: list[str] = field(default_factory=list)
    durable: bool = False  # fsync as in production (benchmarks); tests need not pay for it

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _ctl(self, *args: str) -> None:
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args]),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=60)

    def start(self) -> None:
        opts = (f"-c port={self.port} -c listen_addresses=127.0.0.1 "
                f"-c unix_socket_directories={self.root} -c max_connections=200")
        if not self.durable:
            opts += " -c fsync=off -c full_page_writes=off"
        self._ctl("-l", str(self.root / "log"), "-o", opts, "-w", "-t", "30", "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "-w", "-t", "30", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def new_database(self) -> str:
        """A fresh, empty database on this server: its URL (tests never share one)."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        self.databases.append(name)
        return self.url(name)

    def close(self) -> None:
        if self.running():
            try:
                self._ctl("-m", "immediate", "-w", "-t", "30", "stop")
            except subprocess.SubprocessError:
                pid = (self.data / "postmaster.pid").read_text().split()[0]
                os.kill(int(pid), 9)
        shutil.rmtree(self.root, ignore_errors=True)


def start_postgres(*, durable: bool = False) -> Postgres:
    if not (PG_BIN / "initdb").exists():
        raise RuntimeError(f"no PostgreSQL at {PG_BIN}: apt-get install postgresql "
                           "(scripts/setup --test does)")
    # not under pytest's tmp_path: the postgres user must be able to reach it
    root = Path(tempfile.mkdtemp(prefix="townhall-pg-"))
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(root, pg.pw_uid, pg.pw_gid)
    server = Postgres(root, free_port(), durable=durable)
    try:
        subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(server.data), "-U",
                                     "postgres", "--auth=trust", "-E", "UTF8",
                                     "--no-sync"]),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=120)
        server.start()
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(server.url(), connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    except BaseException:
        server.close()
        raise
    return server
