"""A real cluster on loopback: redis-server, several `townhall serve` origins sharing one
database (a SQLite file, or PostgreSQL from the `pg_url` fixture) and their secrets, and
(by the tests) an nginx edge in front of them."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx

from harness.server import EXTRA_ARGS, Server, free_port, start_server, stop_process, stop_server

T = TypeVar("T")


@dataclass
class Redis:
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port),
             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.data_dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            out = subprocess.run(["redis-cli", "-p", str(self.port), "ping"],
                                 capture_output=True, text=True, check=False)
            if out.stdout.strip() == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


@dataclass
class Cluster:
    root: Path
    redis: Redis
    database: str  # a SQLite file every origin opens, or a PostgreSQL URL
    public_url: str
    origins: list[Server] = field(default_factory=list)
    extra: tuple[str, ...] = ()

    def start_origin(self, name: str) -> Server:
        data = self.root / name
        data.mkdir(parents=True, exist_ok=True)
        # one deployment: the edge's secret (X-Townhall-Edge) is believed by every origin
        for shared in ("ticket.secret", "secret.key", "admin.key", "edge.secret"):
            shutil.copy(self.root / shared, data / shared)
        origin = start_server(data, "--redis-url", self.redis.url, "--database", self.database,
                              "--public-url", self.public_url,
                              "--set", f"origin_name={name}", *self.extra)
        self.origins.append(origin)
        return origin

    def restart_origin(self, name: str, old: Server) -> Server:
        """`name` again on the ports of `old` (dead): the edge's list of origins holds."""
        port = old.base_url.rsplit(":", 1)[1]
        log = open(old.data_dir / "server.log", "ab")  # noqa: SIM115 - lives with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "townhall.cli", "serve", "--port", port, "--ingest-port",
             str(old.ingest_port), "--data-dir", str(old.data_dir), "--log-level", "warning",
             "--redis-url", self.redis.url, "--database", self.database, "--public-url",
             self.public_url, "--set", f"origin_name={name}", *EXTRA_ARGS, *self.extra],
            stdout=log, stderr=subprocess.STDOUT)
        origin = Server(old.base_url, old.ingest_port, old.data_dir, proc, old.log_path, log)
        wait_for(lambda: httpx.get(f"{old.base_url}/api/spaces", timeout=1).status_code == 200,
                 30, f"origin {name} back")
        self.origins[self.origins.index(old)] = origin
        if old.log_file is not None:
            old.log_file.close()
        return origin

    def holder(self, space_id: str) -> str | None:
        out = subprocess.run(["redis-cli", "-p", str(self.redis.port), "get",
                              f"townhall:lease:{space_id}"], capture_output=True, text=True,
                             check=False)
        return out.stdout.strip() or None


@contextmanager
def cluster(root: Path, n: int, public_port: int, *extra: str,
            database: str | None = None) -> Iterator[Cluster]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "ticket.secret").write_text(secrets.token_hex(16))
    (root / "secret.key").write_text(secrets.token_hex(32))
    (root / "admin.key").write_text(secrets.token_urlsafe(24))
    (root / "edge.secret").write_text(secrets.token_hex(24))
    redis = Redis(free_port(), root / "redis")
    redis.start()
    if database is not None and database.startswith("postgresql:"):
        extra = ("--migrate", *extra)
    c = Cluster(root, redis, database or str(root / "shared.sqlite3"),
                f"http://127.0.0.1:{public_port}", extra=extra)
    try:
        for i in range(n):
            c.start_origin("abc"[i] if i < 3 else f"o{i}")
        yield c
    finally:
        for origin in c.origins:
            stop_server(origin)
        redis.stop()


def wait_for(check: Callable[[], T], timeout: float, what: str) -> T:
    """Polls `check` every 100 ms until it returns something true, and returns that (an
    HTTP error counts as not yet); fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = check()
            if got:
                return got
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
