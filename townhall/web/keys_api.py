"""Operator API for hosting keys: issue, list and revoke (an admin key as Bearer).

Thin edge over live.hosting. A key's secret is in the answer to its creation and nowhere
else; listings show ids, names and roles. Never touches media.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, ConfigDict, Field

from townhall.live.registry.hosting import Hosting

router = APIRouter(prefix="/api/admin/keys")


def _admin(request: Request, authorization: str | None) -> Hosting:
    hosting: Hosting = request.app.state.hosting
    scheme, _, value = (authorization or "").partition(" ")
    hosting.require(value.strip() if scheme.lower() == "bearer" else None, admin=True)
    return hosting


class KeyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=100, description="who the key is for")
    role: Literal["host", "admin"] = Field(default="host")


@router.post("", status_code=201, summary="Operator: issue a hosting API key (shown once)")
async def create_key(body: KeyBody, request: Request,
                     authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    record, key = _admin(request, authorization).issue(body.name, body.role)
    return {**record.public(), "key": key}


@router.get("", summary="Operator: every hosting API key (without secrets)")
async def list_keys(request: Request,
                    authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    hosting = _admin(request, authorization)
    return {"keys": [k.public() for k in hosting.keys.list()]}


@router.delete("/{key_id}", summary="Operator: revoke a key (its spaces can no longer go live)")
async def revoke_key(key_id: str, request: Request,
                     authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    return _admin(request, authorization).revoke(key_id).public()
