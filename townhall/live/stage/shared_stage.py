"""One stage in a cluster: the origin running a live space's program posts the space's stage
(who is on stage, muted, speaking, hands up), and every other origin shows that stage in
the details it serves.

Why: the stage lives with the WHIP sessions, on the origin holding the program (the edge
sends a space's speakers there). Details of the space answered by any other origin (the edge
failing over, a client asking an origin directly) would show that origin's own, stale stage:
after a failover, the dead origin's speakers, or nobody. Every `stage_share_s` this service
posts the stages of the programs this origin holds to the shared board
(`cluster.stage_board`, Redis, TTL `stage_share_ttl_s`) and reads those of the other live
spaces into `LiveSpace.shared_stage`, which `live.stage.speakers.stage_status` shows while it is
fresh. A holder that died stops posting; its stage lapses with the TTL and each origin shows
its own again until the new holder posts. Redis away: each origin shows its own view (the
failure is logged once per outage). Never touches a session or the store.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from townhall.cluster.base import ClusterUnavailable
from townhall.cluster.stage_board import StageBoard
from townhall.live import tasks
from townhall.live.registry.spaces import LiveSpace, Spaces
from townhall.live.stage.space_speakers import stage_status
from townhall.space.lifecycle import Phase

log = logging.getLogger("townhall.speakers")


def holds_program(space: LiveSpace) -> bool:
    """This origin runs the space's program (not a standby following another origin)."""
    return space.program is not None and not space.program.following


class SharedStage:
    def __init__(self, spaces: Spaces, board: StageBoard) -> None:
        self.spaces = spaces
        self.board = board
        self.settings = spaces.settings
        self._task: asyncio.Task[None] | None = None
        self._away = False  # the board is unreachable (logged once per outage)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        await tasks.cancel(self._task)
        await self.board.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.stage.stage_share_s)
            try:
                await self.share()
            except ClusterUnavailable as exc:
                if not self._away:
                    log.warning("stage not shared (Redis unavailable: %s); each origin "
                                "shows its own", exc)
                self._away = True
            else:
                self._away = False

    async def share(self) -> None:
        """Post the stages of the programs held here; read the others' into their spaces."""
        held: dict[str, bytes] = {}
        others: list[LiveSpace] = []
        for space in self.spaces.all():
            if holds_program(space):
                space.shared_stage = None  # this origin's own stage is the one
                held[space.record.id] = json.dumps(stage_status(space, self.settings)).encode()
            elif space.record.phase is Phase.LIVE:
                others.append(space)
        await self.board.post(held)
        posted = await self.board.read([space.record.id for space in others])
        now = time.monotonic()
        for space in others:
            doc = posted.get(space.record.id)
            if doc is None or holds_program(space):  # (it may have moved here meanwhile)
                continue
            try:
                stage = json.loads(doc)
            except ValueError:
                continue
            before = space.shared_stage
            space.shared_stage = (now, stage)
            if before is None or before[1] != stage:
                space.status = None  # the details are rendered again with it
