"""Control API routes: create, list, read and end spaces. Thin edge over live.spaces.

Reads come from memory; writes go through the service (which writes the store). Never
serves media.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from townhall.delivery import cache
from townhall.live.errors import SpaceError
from townhall.live.spaces import Spaces

router = APIRouter(prefix="/api")


class CreateSpace(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(description="What the conversation is about")
    host: str = Field(description="Who hosts it, as shown to listeners")
    scheduled_start: datetime | None = Field(
        default=None, description="ISO 8601 time the space is announced to start")
    listener_cap: int | None = Field(
        default=None, description="Most listeners admitted at once (none: no cap)")


def _spaces(request: Request) -> Spaces:
    spaces: Spaces = request.app.state.spaces
    return spaces


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _invalid(detail: str) -> SpaceError:
    return SpaceError(422, "invalid_request", detail)


@router.post("/spaces", status_code=201, summary="Create a space")
async def create_space(body: CreateSpace, request: Request) -> dict[str, Any]:
    spaces = _spaces(request)
    s = spaces.settings
    title, host = body.title.strip(), body.host.strip()
    if not title or len(title) > s.max_title_chars:
        raise _invalid(f"title: must be 1 to {s.max_title_chars} characters")
    if not host or len(host) > s.max_host_chars:
        raise _invalid(f"host: must be 1 to {s.max_host_chars} characters")
    cap = body.listener_cap
    if cap is not None and not 1 <= cap <= s.max_listener_cap:
        raise _invalid(f"listener_cap: must be between 1 and {s.max_listener_cap}")
    start = None
    if body.scheduled_start is not None:
        when = body.scheduled_start
        if when.tzinfo is None:
            raise _invalid("scheduled_start: give a time zone (e.g. 2026-11-23T18:00:00Z)")
        start = when.timestamp()
    space, key = await spaces.create(title, host, start, cap)
    doc = spaces.details(space, time.time())
    doc.update(host_key=key, ingest_url=spaces.ingest_url(space, key),
               host_url=f"{s.base_url}/spaces/{space.record.id}/host#key={key}")
    return doc


@router.get("/spaces", summary="List spaces, newest first")
async def list_spaces(request: Request, response: Response) -> dict[str, Any]:
    spaces = _spaces(request)
    now = time.time()
    items = sorted(spaces.all(), key=lambda sp: sp.record.created_at, reverse=True)
    response.headers["Cache-Control"] = cache.status_document()
    return {"spaces": [spaces.details(sp, now)
                       for sp in items[: spaces.settings.max_spaces_listed]]}


@router.get("/spaces/{space_id}", summary="A space's details (precomputed, cacheable)")
async def get_space(space_id: str, request: Request, response: Response) -> dict[str, Any]:
    spaces = _spaces(request)
    response.headers["Cache-Control"] = cache.status_document()
    return spaces.details(spaces.get(space_id), time.time())


@router.get("/spaces/{space_id}/host", summary="What the host needs: details and ingest URL")
async def host_view(space_id: str, request: Request, response: Response,
                    authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    spaces = _spaces(request)
    key = _bearer(authorization)
    space = spaces.authorize(space_id, key)
    assert key is not None
    s = spaces.settings
    response.headers["Cache-Control"] = cache.NO_STORE
    doc = spaces.details(space, time.time())
    doc.update(ingest_url=spaces.ingest_url(space, key),
               ingest_http_url=f"http://{s.ingest_host}:{s.ingest_port}/ingest/{space_id}",
               ffmpeg_command=("ffmpeg -re -i talk.mp3 -c:a aac -f adts "
                               f"'{spaces.ingest_url(space, key)}'"))
    return doc


@router.post("/spaces/{space_id}/end", summary="End the space (host key as Bearer token)")
async def end_space(space_id: str, request: Request,
                    authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    spaces = _spaces(request)
    space = await spaces.end(space_id, _bearer(authorization))
    return spaces.details(space, time.time())
