"""The host's program level meter: how loud the live program is right now, for the host page.

`GET /api/spaces/{id}/host/level` (host key as Bearer) answers the level of what the mixer
took from each source in its last pull, and their power sum as the program level. Sources are
independent talkers, so summing their powers estimates the mix's RMS within a few dB without
touching the program's clock or its encoder; muted sources add nothing, as in the mix.
Reads memory only; never touches media, the store or the listener path; never cached.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response

from townhall.delivery import cache
from townhall.live.registry.spaces import Spaces
from townhall.media.mixer import SILENCE_DBFS

router = APIRouter(prefix="/api/spaces/{space_id}")


def power_sum_dbfs(levels: list[float]) -> float:
    """The level of a sum of uncorrelated signals: 10·log10(Σ 10^(L/10)), floored at silence."""
    power = sum(10 ** (level / 10) for level in levels if level > SILENCE_DBFS)
    return SILENCE_DBFS if power <= 0 else max(SILENCE_DBFS, 10 * math.log10(power))


@router.get("/host/level", summary="Host: the live program's level now (dBFS)")
async def program_level(space_id: str, request: Request, response: Response,
                        authorization: Annotated[str | None, Header()] = None
                        ) -> dict[str, Any]:
    spaces: Spaces = request.app.state.spaces
    scheme, _, value = (authorization or "").partition(" ")
    space = spaces.authorize(space_id, value.strip() if scheme.lower() == "bearer" else None)
    response.headers["Cache-Control"] = cache.NO_STORE
    program = space.program
    sources: dict[str, float] = {}
    audible: list[float] = []
    if program is not None:
        for name, state in list(program.mixer.sources.items()):
            sources[name] = round(state.level_dbfs, 1)
            if not state.muted:
                audible.append(state.level_dbfs)
    return {"on_air": bool(program and program.on_air),
            "level_dbfs": round(power_sum_dbfs(audible), 1),
            "sources": sources, "silence_dbfs": SILENCE_DBFS}
