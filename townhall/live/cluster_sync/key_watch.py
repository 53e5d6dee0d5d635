"""Security news between origins: a rotated host key, a newer source and a revoked ticket
reach every origin.

Service. In a cluster each origin caches a space's host key hash for `key_check_ttl_s` at
most (`HostKeys.ok` re-reads the store); this makes the change immediate: a rotation or a
newer source on one origin is announced through the cluster (Redis pub/sub), and every other
origin drops its cached hash, cuts off the source it has (the old key's, or the older one:
every origin then counts the takeover, so the host view says the same everywhere) and
ends the host's WebRTC session that used the old key; a shared ticket revoked on one origin is
refused on media and renewal by every origin. An announcement lost while Redis is away costs
at most the cache's TTL (a revoked ticket: its renewal, where it was revoked, and its expiry
elsewhere). Never on the listener path.
"""

from __future__ import annotations

import asyncio
import logging

from townhall.cluster.base import Cluster, ClusterUnavailable
from townhall.live import tasks
from townhall.live.joins.admissions import Admissions
from townhall.live.registry.host_keys import KeyRotation
from townhall.live.registry.live_space import LiveSpace
from townhall.live.registry.spaces import Spaces
from townhall.live.sources.push_sources import PushSources
from townhall.live.stage.speakers import Speakers
from townhall.space.roles import HOST_SEAT

log = logging.getLogger("townhall.key_watch")


async def end_host_session(speakers: Speakers, space: LiveSpace) -> None:
    """The host on WebRTC used the old key too (a `KeyRotation.on_rotated` hook)."""
    room = space.speakers
    session = room.session_of(HOST_SEAT) if room is not None else None
    if room is not None and session is not None:
        await speakers.end_session(room, session, "the host key was rotated")


class KeyWatch:
    """Hears the other origins' news (`live.cluster_sync.news` sends this origin's)."""

    def __init__(self, spaces: Spaces, cluster: Cluster, admissions: Admissions,
                 rotation: KeyRotation, sources: PushSources) -> None:
        self.spaces = spaces
        self.admissions = admissions
        self.cluster = cluster
        self.rotation = rotation
        self.sources = sources
        self.heard = 0
        self._task: asyncio.Task[None] | None = None

    async def heard_news(self, topic: str, ident: str) -> None:
        self.heard += 1
        if topic == "host_key":
            await self.rotation.rotated_elsewhere(ident)
        elif topic == "source":
            self.sources.newer_source_elsewhere(ident)
        elif topic == "takeover":
            self.sources.takeover_counted_elsewhere(ident)
        elif topic == "seat":
            space_id, _, seat = ident.partition("/")
            if seat and self.spaces.find(space_id) is not None:
                self.admissions.revoked_elsewhere(space_id, seat)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        while True:
            try:
                await self.cluster.listen(self.heard_news)
            except ClusterUnavailable as exc:
                log.info("cluster news unavailable (%s); host keys are re-read every %.1f s",
                         exc, self.spaces.settings.cluster.key_check_ttl_s)
            except Exception:
                log.exception("cluster news listener failed; restarting")
            await asyncio.sleep(1.0)

    async def close(self) -> None:
        await tasks.cancel(self._task)
