"""Redis with Sentinel on loopback: a primary, a replica and three sentinels (real
redis-server processes on free ports) that promote the replica about a second after the
primary dies; and a townhall cluster whose origins find the primary through them."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from harness.cluster import Cluster, Redis
from harness.server import free_port, stop_process, stop_server

MASTER = "townhall"
DOWN_AFTER_MS = 1000  # a primary silent this long is subjectively down


def cli(port: int, *args: str) -> str:
    out = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True,
                         text=True, check=False, timeout=5)
    return out.stdout.strip()


@dataclass
class SentinelRedis(Redis):
    """The cluster helpers' Redis, seen through Sentinel: `url` names the sentinels, `port`
    is whichever server is the primary now."""

    servers: list[Redis] = field(default_factory=list)
    sentinels: list[tuple[int, subprocess.Popen[bytes]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p, _ in self.sentinels)
        return f"redis+sentinel://{hosts}/{MASTER}/0"

    def primary_port(self) -> int:
        """The primary the sentinels name now."""
        for port, _ in self.sentinels:
            got = cli(port, "sentinel", "get-master-addr-by-name", MASTER).split()
            if len(got) == 2:
                return int(got[1])
        raise RuntimeError("no sentinel answers")

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        primary = Redis(self.port, self.data_dir / "primary")
        primary.start()
        replica = Redis(free_port(), self.data_dir / "replica")
        replica.start()
        cli(replica.port, "replicaof", "127.0.0.1", str(primary.port))
        self.servers = [primary, replica]
        for i in range(3):
            port = free_port()
            conf = self.data_dir / f"sentinel{i}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.data_dir}\n"
                f"sentinel monitor {MASTER} 127.0.0.1 {primary.port} 2\n"
                f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {MASTER} 4000\n"
                f"sentinel parallel-syncs {MASTER} 1\n")
            proc = subprocess.Popen([shutil.which("redis-server") or "redis-server", str(conf),
                                     "--sentinel"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.sentinels.append((port, proc))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # the replica in sync, every sentinel sees it
            synced = "master_link_status:up" in cli(replica.port, "info", "replication")
            seen = all(cli(p, "sentinel", "replicas", MASTER).count("\n") > 0 and
                       cli(p, "sentinel", "sentinels", MASTER).count("\n") > 0
                       for p, _ in self.sentinels)
            if synced and seen:
                return
            time.sleep(0.2)
        raise RuntimeError("Sentinel group did not form")

    def kill_primary(self) -> Redis:
        """kill -9 the server that is the primary now; the dead server."""
        port = self.primary_port()
        dead = next(s for s in self.servers if s.port == port)
        assert dead.process is not None
        dead.process.kill()
        dead.process.wait(5)
        dead.process = None
        return dead

    def stop(self) -> None:
        for _, proc in self.sentinels:
            stop_process(proc)
        for server in self.servers:
            server.stop()


class SentinelCluster(Cluster):
    def holder(self, space_id: str) -> str | None:
        try:
            port = self.redis.primary_port()  # type: ignore[attr-defined]
        except RuntimeError:
            return None
        return cli(port, "get", f"townhall:lease:{space_id}") or None


@contextmanager
def sentinel_cluster(root: Path, n: int, public_port: int, *extra: str) -> Iterator[Cluster]:
    """`cluster_helpers.cluster`, on a Sentinel group instead of one redis-server."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "ticket.secret").write_text(secrets.token_hex(16))
    (root / "secret.key").write_text(secrets.token_hex(32))
    (root / "admin.key").write_text(secrets.token_urlsafe(24))
    (root / "edge.secret").write_text(secrets.token_hex(24))
    redis = SentinelRedis(free_port(), root / "redis")
    c = SentinelCluster(root, redis, str(root / "shared.sqlite3"),
                        f"http://127.0.0.1:{public_port}", extra=extra)
    try:
        redis.start()
        for i in range(n):
            c.start_origin("abc"[i])
        yield c
    finally:
        for origin in c.origins:
            stop_server(origin)
        redis.stop()
