"""The cluster as this origin sees it: which spaces are live anywhere, and every record.

Service. Every `lease_renew_s` it reads the live set (Redis) and hands each live space it
does not follow yet to `follow` (the program leases make a standby of it); every
`record_refresh_s` it re-reads all records from the shared store, so spaces other origins
created, started or ended show here (the cluster-wide list). Redis or the database away:
what is known goes on, and it tries again. Never on the listener path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from townhall.cluster.base import Cluster, ClusterUnavailable
from townhall.live import tasks
from townhall.live.registry.live_space import LiveSpace
from townhall.live.registry.spaces import Spaces
from townhall.space.lifecycle import Phase
from townhall.store.base import StoreUnavailable

log = logging.getLogger("townhall.cluster")


class ClusterWatch:
    def __init__(self, spaces: Spaces, cluster: Cluster,
                 follow: Callable[[LiveSpace], None]) -> None:
        self.spaces = spaces
        self.cluster = cluster
        self.follow = follow
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        await tasks.cancel(self._task)

    async def _run(self) -> None:
        s = self.spaces.settings
        loop = asyncio.get_running_loop()
        refreshed = 0.0
        while True:
            try:
                if loop.time() - refreshed > s.cluster.record_refresh_s:
                    refreshed = loop.time()
                    self.spaces.refresh(await asyncio.to_thread(self.spaces.store.load_all))
                for sid in await self.cluster.live_spaces():
                    space = self.spaces.find(sid)
                    if space is not None and space.record.phase is not Phase.ENDED:
                        self.follow(space)
            except (ClusterUnavailable, StoreUnavailable):
                pass  # Redis or the database is away: what is known goes on; retry
            except Exception:
                log.exception("cluster watch failed; retrying")
            await asyncio.sleep(s.cluster.lease_renew_s)
