"""Security news between origins: a rotated host key, a newer source and a revoked ticket
reach every origin.

Service. In a cluster each origin caches a space's host key hash for `key_check_ttl_s` at
most (`Spaces.key_ok` re-reads the store); this makes the change immediate: a rotation or a
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
from townhall.live.admissions import Admissions
from townhall.live.spaces import LiveSpace, Spaces
from townhall.live.speakers import Speakers
from townhall.space.roles import HOST_SEAT

log = logging.getLogger("townhall.key_watch")


class KeyWatch:
    def __init__(self, spaces: Spaces, cluster: Cluster, speakers: Speakers,
                 admissions: Admissions) -> None:
        self.spaces = spaces
        self.admissions = admissions
        self.cluster = cluster
        self.speakers = speakers
        self.heard = 0
        self.unsent = 0  # announcements Redis did not take (the TTL covers them)
        self._task: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()
        spaces.announce = self.announce
        admissions.announce = self.announce
        spaces.on_key_rotated.append(self.end_host_session)

    async def end_host_session(self, space: LiveSpace) -> None:
        """The host on WebRTC used the old key too."""
        room = space.speakers
        session = room.session_of(HOST_SEAT) if room is not None else None
        if room is not None and session is not None:
            await self.speakers.end_session(room, session, "the host key was rotated")

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
                        "%.1f s", space_id, topic, exc, self.spaces.settings.key_check_ttl_s,
                        extra={"space_id": space_id})

    async def heard_news(self, topic: str, ident: str) -> None:
        self.heard += 1
        if topic == "host_key":
            await self.spaces.key_rotated_elsewhere(ident)
        elif topic == "source":
            self.spaces.taken_over_elsewhere(ident)
        elif topic == "takeover":
            self.spaces.takeover_elsewhere(ident)
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
                         exc, self.spaces.settings.key_check_ttl_s)
            except Exception:
                log.exception("cluster news listener failed; restarting")
            await asyncio.sleep(1.0)

    async def close(self) -> None:
        await tasks.cancel(self._task, *self._sends)
