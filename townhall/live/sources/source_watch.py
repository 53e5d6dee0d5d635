"""A push source's place in a cluster: one source on air per space across every origin, and
never a source mixed into a program that runs elsewhere.

Service, beside each push (ingest) session while it lasts. Once its audio decodes it claims
its space in Redis (`cluster.source_claims`), so a newer source on another origin takes over
exactly as on one origin: the older one is cut off and answered 409 `taken_over` (within
`source_claim_check_s`), and the program follows the newer one (`Program.on_source`). A source
whose origin's program stays a standby for `source_unheard_s` (another origin keeps the
program, e.g. its speakers are there) is ended with `moved` (503: reconnect, through the edge,
which sends a space's sources to one origin): counted (`townhall_sources_moved_total`) and
logged, never left unheard. Redis away: the source goes on (fail open). Never touches audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator

from townhall.cluster.base import ClusterUnavailable
from townhall.cluster.source_claims import SourceClaims
from townhall.live import tasks
from townhall.live.registry.spaces import Spaces
from townhall.live.sources.session import IngestSession
from townhall.ops import metrics

log = logging.getLogger("townhall.ingest")


class SourceWatch:
    def __init__(self, spaces: Spaces, claims: SourceClaims, origin: str) -> None:
        self.spaces = spaces
        self.claims = claims
        self.origin = origin
        self.settings = spaces.settings
        self.taken_over = 0  # cut off by a newer source on another origin
        self.moved = 0  # ended: the program ran on another origin

    @contextlib.asynccontextmanager
    async def guard(self, space_id: str, session: IngestSession) -> AsyncIterator[None]:
        """Watch `session` while the body of the `async with` pumps it."""
        who = f"{self.origin}/{session.name}/{secrets.token_hex(4)}"
        claimed = asyncio.Event()
        task = asyncio.get_running_loop().create_task(self._run(space_id, session, who,
                                                                claimed))
        try:
            yield
        finally:
            await tasks.cancel(task)
            if claimed.is_set():
                with contextlib.suppress(ClusterUnavailable):
                    await self.claims.release(space_id, who)

    async def _run(self, space_id: str, session: IngestSession, who: str,
                   claimed: asyncio.Event) -> None:
        check = self.settings.cluster.source_claim_check_s
        while not session.started:
            if session.closed:
                return
            await asyncio.sleep(check)
        if session.closed:
            return
        with contextlib.suppress(ClusterUnavailable):
            await self.claims.claim(space_id, who)  # the newest source on air takes over
        claimed.set()
        unheard_since: float | None = None
        loop = asyncio.get_running_loop()
        while not session.closed:
            await asyncio.sleep(check)
            try:
                mine = await self.claims.renew(space_id, who)
            except ClusterUnavailable:
                mine = True  # Redis away: nobody can claim the space either
            if not mine and not session.closed:
                self.taken_over += 1
                metrics.SOURCES_TAKEN_OVER.inc()
                log.warning("source of %s taken over by a newer source on another origin",
                            space_id, extra={"space_id": space_id})
                session.ended_by = "taken_over"
                session.stop()
                return
            space = self.spaces.find(space_id)
            program = space.program if space is not None else None
            if program is None or not program.following or space is None \
                    or space.ingest is not session:
                unheard_since = None
                continue
            now = loop.time()
            unheard_since = now if unheard_since is None else unheard_since
            if now - unheard_since >= self.settings.cluster.source_unheard_s:
                self.moved += 1
                metrics.SOURCES_MOVED.labels("push").inc()
                log.warning("source of %s was not heard for %.1f s (the program runs on "
                            "another origin); ending it so that it reconnects there",
                            space_id, now - unheard_since, extra={"space_id": space_id})
                session.ended_by = "moved"
                session.stop()
                return
