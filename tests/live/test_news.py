"""News to the other origins: sent in the background (the request that caused it never
waits on Redis); one the cluster does not take is counted and logged, never raised. A fake
cluster in memory: no sockets."""

from __future__ import annotations

import asyncio
import logging
from typing import cast

import pytest

from townhall.cluster.base import Cluster, ClusterUnavailable
from townhall.live.cluster_sync.news import News


class _Cluster:
    def __init__(self, *, down: bool = False) -> None:
        self.down = down
        self.told: list[tuple[str, str]] = []

    async def announce(self, topic: str, ident: str) -> None:
        if self.down:
            raise ClusterUnavailable("redis away")
        self.told.append((topic, ident))


def _news(cluster: _Cluster) -> News:
    return News(cast(Cluster, cluster), key_check_ttl_s=2.0)


def test_news_reaches_the_cluster_without_the_caller_waiting() -> None:
    cluster = _Cluster()
    news = _news(cluster)

    async def run() -> list[tuple[str, str]]:
        news.announce("host_key", "sp1")
        told_at_once = list(cluster.told)
        for _ in range(3):
            await asyncio.sleep(0)
        await news.close()
        return told_at_once

    assert asyncio.run(run()) == []  # sent by a task, not in the caller's call
    assert cluster.told == [("host_key", "sp1")] and news.unsent == 0


def test_news_the_cluster_did_not_take_is_counted_and_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    news = _news(_Cluster(down=True))

    async def run() -> None:
        news.announce("seat", "sp1/seat-3")
        for _ in range(3):
            await asyncio.sleep(0)

    with caplog.at_level(logging.WARNING, "townhall.key_watch"):
        asyncio.run(run())
    assert news.unsent == 1
    assert "space sp1: seat change not announced" in caplog.text
    assert "within 2.0 s" in caplog.text
