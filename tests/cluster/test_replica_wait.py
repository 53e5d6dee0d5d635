"""The part stream's appends wait for a Redis replica, within a bound: a real primary and
replica (redis-server on loopback). Without replicas nothing waits; with one, each append
waits until the replica has it; a stalled replica (SIGSTOP) costs an append no more than
`redis_replica_wait_ms`, and the short wait is counted."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from harness.cluster import Redis, wait_for
from harness.server import free_port
from tests.cluster.sentinel_helpers import cli
from townhall.cluster.entries import PART, Entry
from townhall.cluster.redis_cluster import RedisCluster
from townhall.ops.metrics import REPLICA_WAIT, REPLICA_WAIT_SHORT

pytestmark = pytest.mark.slow
BOUND_MS = 150


def _count(metric: object) -> float:
    for family in metric.collect():  # type: ignore[attr-defined]
        for s in family.samples:
            if s.name.endswith(("_count", "_total")):
                return float(s.value)
    return 0.0


def _part(msn: int, index: int) -> Entry:
    return Entry(PART, msn, index, 0.32, data=bytes([index]) * 100)


def test_appends_wait_for_a_replica_and_a_stalled_one_costs_at_most_the_bound(
        tmp_path: Path) -> None:
    primary = Redis(free_port(), tmp_path / "primary")
    replica = Redis(free_port(), tmp_path / "replica")
    primary.start()
    replica.start()
    try:
        async def run() -> None:
            cluster = RedisCluster(primary.url, "a", lease_ttl_s=5.0, max_entries=100,
                                   timeout_s=5.0, replica_wait_ms=BOUND_MS)
            try:
                await appends(cluster)
            finally:
                await cluster.close()

        async def appends(cluster: RedisCluster) -> None:
            assert await cluster.acquire("sp")
            waits = _count(REPLICA_WAIT)
            assert await cluster.append("sp", [_part(0, 0)])
            assert _count(REPLICA_WAIT) == waits  # no replica: nothing to wait for
            cli(replica.port, "replicaof", "127.0.0.1", str(primary.port))
            wait_for(lambda: "master_link_status:up" in cli(replica.port, "info",
                                                            "replication"), 10, "in sync")
            await asyncio.sleep(2.1)  # the holder reads INFO replication every 2 s
            shorts = _count(REPLICA_WAIT_SHORT)
            for i in range(1, 6):
                assert await cluster.append("sp", [_part(0, i)])
            assert _count(REPLICA_WAIT) == waits + 5
            assert _count(REPLICA_WAIT_SHORT) == shorts
            assert cli(replica.port, "xlen", "townhall:parts:sp") == "6"  # acked: it is there
            assert replica.process is not None
            os.kill(replica.process.pid, signal.SIGSTOP)  # the replica stalls
            try:
                t0 = time.monotonic()
                assert await cluster.append("sp", [_part(0, 6)])  # published anyway
                took = time.monotonic() - t0
            finally:
                os.kill(replica.process.pid, signal.SIGCONT)
            # bounded by the setting, not by the socket timeout (5 s); slack for a busy machine
            assert BOUND_MS / 1000 * 0.9 <= took <= BOUND_MS / 1000 + 0.6, took
            assert _count(REPLICA_WAIT_SHORT) == shorts + 1

        asyncio.run(run())
    finally:
        replica.stop()
        primary.stop()
