"""The captions switch of a space: the host turns captions on or off for their own space.

Edge. `GET /api/spaces/ID/captions` says whether the space is captioned (public: the
listening page asks it); `PUT` with the host key as Bearer sets the host's choice over the
operator's default (`--captions`). The captions themselves are the HLS subtitles rendition
(townhall/captions, docs/captions.md). The choice lives in this origin's memory.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, ConfigDict

from townhall.captions.captioner import Captioner
from townhall.delivery import cache
from townhall.live.registry.spaces import Spaces
from townhall.web.api import _bearer as bearer

router = APIRouter(prefix="/api")


class CaptionsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool


def _state(captioner: Captioner, space_id: str) -> dict[str, Any]:
    return {"enabled": captioner.enabled(space_id), "captioned": captioner.wants(space_id),
            "available": captioner.available,
            "reason": None if captioner.available else captioner.failed}


@router.get("/spaces/{space_id}/captions", summary="Whether the space is captioned")
async def get_captions(space_id: str, request: Request, response: Response) -> dict[str, Any]:
    spaces: Spaces = request.app.state.spaces
    spaces.get(space_id)  # 404 for a space that does not exist
    response.headers["Cache-Control"] = "public, max-age=2"
    return _state(request.app.state.captioner, space_id)


@router.put("/spaces/{space_id}/captions",
            summary="Switch the space's captions on or off (host key as Bearer token)")
async def set_captions(space_id: str, body: CaptionsBody, request: Request, response: Response,
                       authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    spaces: Spaces = request.app.state.spaces
    spaces.authorize(space_id, bearer(authorization))
    captioner: Captioner = request.app.state.captioner
    captioner.set_enabled(space_id, body.enabled)
    response.headers["Cache-Control"] = cache.NO_STORE
    return _state(captioner, space_id)
