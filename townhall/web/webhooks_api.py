"""Webhook endpoints API: register, list, delete, and each one's delivery log.

Thin edge over reach/webhooks.py. The operator's admin key or a hosting API key as Bearer;
a key sees and manages only its own endpoints (the admin key: its own, which receive every
space's events; a host key's receive the events of the spaces it created). The secret is in
the answer to the registration and nowhere else.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, ConfigDict, Field

from townhall.live.errors import SpaceError
from townhall.live.registry.hosting import Hosting, Identity
from townhall.reach.events import TYPES
from townhall.reach.webhooks import Webhooks
from townhall.store.reach import Endpoint

router = APIRouter(prefix="/api/webhooks")


class EndpointBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=2000, description="where to POST (http or https)")
    events: list[str] = Field(max_length=len(TYPES), description=", ".join(TYPES))


def _who(request: Request, authorization: str | None) -> Identity:
    hosting: Hosting = request.app.state.hosting
    scheme, _, value = (authorization or "").partition(" ")
    return hosting.require(value.strip() if scheme.lower() == "bearer" else None)


def _webhooks(request: Request) -> Webhooks:
    webhooks: Webhooks = request.app.state.webhooks
    return webhooks


async def _own(request: Request, who: Identity, endpoint_id: str) -> Endpoint:
    e = await asyncio.to_thread(_webhooks(request).store.endpoint, endpoint_id)
    if e is None or e.owner != who.owner:
        raise SpaceError(404, "no_endpoint", "no such webhook endpoint for this key")
    return e


@router.post("", status_code=201, summary="Register a webhook endpoint (admin or host API key)")
async def register(body: EndpointBody, request: Request,
                   authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    who = _who(request, authorization)
    e = await _webhooks(request).register(who.owner, body.url, body.events)
    return {**e.public(), "secret": e.secret}


@router.get("", summary="This key's webhook endpoints (without secrets)")
async def list_endpoints(request: Request,
                         authorization: Annotated[str | None, Header()] = None
                         ) -> dict[str, Any]:
    who = _who(request, authorization)
    found = await asyncio.to_thread(_webhooks(request).store.endpoints, who.owner)
    return {"endpoints": [e.public() for e in found]}


@router.delete("/{endpoint_id}", summary="Delete an endpoint (its pending deliveries too)")
async def delete(endpoint_id: str, request: Request,
                 authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    who = _who(request, authorization)
    e = await _own(request, who, endpoint_id)
    webhooks = _webhooks(request)
    await asyncio.to_thread(webhooks.store.delete_endpoint, e.id, webhooks.clock())
    return e.public()


@router.get("/{endpoint_id}/deliveries", summary="An endpoint's delivery log, newest first")
async def deliveries(endpoint_id: str, request: Request,
                     authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    who = _who(request, authorization)
    e = await _own(request, who, endpoint_id)
    webhooks = _webhooks(request)
    store = webhooks.store
    attempts = await asyncio.to_thread(store.attempts, e.id,
                                       webhooks.settings.reach.webhook_log_rows)
    pending = await asyncio.to_thread(store.pending, e.id)
    return {**e.public(), "pending": pending, "attempts": attempts}
