"""Telling the other origins that a space's security state changed here.

Service. A rotated host key, a newer source on air, a counted takeover and a revoked ticket
are announced through the cluster (`Cluster.announce`: Redis pub/sub, or nobody in a cluster
of one), in the background so the control request that caused it never waits on Redis.
`live.cluster_sync.key_watch` hears the others' news. An announcement Redis does not take is
counted and logged; every origin re-reads what it caches within `key_check_ttl_s` anyway.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from townhall.cluster.base import Cluster, ClusterUnavailable
from townhall.live import tasks

log = logging.getLogger("townhall.key_watch")

# announce(topic, ident): "host_key"/"source"/"takeover" with a space id, "seat" with id/seat
Announce = Callable[[str, str], None]


class News:
    def __init__(self, cluster: Cluster, key_check_ttl_s: float) -> None:
        self.cluster = cluster
        self.key_check_ttl_s = key_check_ttl_s
        self.unsent = 0  # announcements Redis did not take (the TTL covers them)
        self._sends: set[asyncio.Task[None]] = set()

    def announce(self, topic: str, ident: str) -> None:
        task = asyncio.get_running_loop().create_task(self._send(topic, ident))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _send(self, topic: str, ident: str) -> None:
        space_id = ident.split("/", 1)[0]
        try:
            await self.cluster.announce(topic, ident)
        except ClusterUnavailable as exc:
            self.unsent += 1
            log.warning("space %s: %s change not announced (%s); other origins see it within "
                        "%.1f s", space_id, topic, exc, self.key_check_ttl_s,
                        extra={"space_id": space_id})

    async def close(self) -> None:
        await tasks.cancel(*self._sends)
