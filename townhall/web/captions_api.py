"""The captions switch of a space: the host turns captions on or off for their own space.

Edge. `GET /api/spaces/ID/captions` says whether the space is captioned (public: the
listening page asks it); `PUT` with the host key as Bearer sets the host's choice over the
operator's default (`--captions`). The choice is kept with the space in the store
(`SpaceStore.set_captions`), so a restarted origin, and every origin of a cluster within
`record_refresh_s`, follows it. The captions themselves are the HLS subtitles rendition
(townhall/captions, docs/captions.md).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, ConfigDict

from townhall.captions.captioner import Captioner
from townhall.delivery import cache
from townhall.live.registry.spaces import LiveSpace, Spaces
from townhall.web.api import _bearer as bearer

router = APIRouter(prefix="/api")


class CaptionsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool


def _state(captioner: Captioner, space: LiveSpace) -> dict[str, Any]:
    return {"enabled": captioner.enabled(space.record),
            "captioned": captioner.wants(space.record.id),
            "available": captioner.available,
            "reason": None if captioner.available else captioner.failed}


@router.get("/spaces/{space_id}/captions", summary="Whether the space is captioned")
async def get_captions(space_id: str, request: Request, response: Response) -> dict[str, Any]:
    spaces: Spaces = request.app.state.spaces
    space = spaces.get(space_id)  # 404 for a space that does not exist
    response.headers["Cache-Control"] = "public, max-age=2"
    return _state(request.app.state.captioner, space)


@router.put("/spaces/{space_id}/captions",
            summary="Switch the space's captions on or off (host key as Bearer token)")
async def set_captions(space_id: str, body: CaptionsBody, request: Request, response: Response,
                       authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    spaces: Spaces = request.app.state.spaces
    space = spaces.authorize(space_id, bearer(authorization))
    # kept first (a store away is a 503 and nothing changes), then followed here at once
    await asyncio.to_thread(spaces.store.set_captions, space_id, body.enabled)
    space.record.captions = body.enabled
    response.headers["Cache-Control"] = cache.NO_STORE
    return _state(request.app.state.captioner, space)
