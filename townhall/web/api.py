"""Control API routes: create, list, read and end spaces. Thin edge over live.spaces.

Reads come from memory; writes go through the service (which writes the store). Never
serves media.
"""

from __future__ import annotations

import hmac
import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from townhall.delivery import cache
from townhall.delivery.latency_tier import LatencyTiers
from townhall.live.admissions import Admissions, Answer, JoinRequest
from townhall.live.anywhere import Anywhere
from townhall.live.errors import SpaceError
from townhall.live.spaces import Spaces
from townhall.web.client_ip import client_address

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
async def get_space(space_id: str, request: Request) -> Response:
    spaces = _spaces(request)
    body = spaces.status_bytes(spaces.get(space_id), time.time())
    return Response(body, media_type="application/json",
                    headers={"Cache-Control": cache.status_document()})


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


class JoinBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str | None = Field(default=None, max_length=64,
                              description="your waiting-room place, to poll it")
    renew: str | None = Field(default=None, max_length=100,
                              description="the ticket you hold, to extend it")
    challenge: str | None = Field(default=None, max_length=200)
    solution: str | None = Field(default=None, max_length=20)


def _answer(answer: Answer) -> JSONResponse:
    status, payload, headers = answer
    return JSONResponse(payload, status_code=status,
                        headers={"Cache-Control": "no-store", **(headers or {})})


def _admissions(request: Request) -> Admissions:
    adm: Admissions = request.app.state.admissions
    return adm


@router.post("/spaces/{space_id}/join", summary="Ask to listen: a ticket or a waiting place",
             responses={202: {"description": "waiting room place"},
                        428: {"description": "proof of work required (attack mode)"}})
async def join_space(space_id: str, request: Request,
                     body: Annotated[JoinBody | None, Body()] = None) -> Response:
    adm = _admissions(request)
    refused = await adm.over_join_budget(client_address(request.scope,
                                                        request.app.state.trusted))
    if refused is not None:
        return _answer(refused)
    space = _spaces(request).get(space_id)
    b = body or JoinBody()
    status, payload = adm.join(space, JoinRequest(b.token, b.renew, b.challenge, b.solution),
                               time.time())
    return JSONResponse(payload, status_code=status, headers={"Cache-Control": "no-store"})


class AdmitBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grant: str = Field(max_length=120, description="join_grant from the space's details")
    renew: str | None = Field(default=None, max_length=100,
                              description="the ticket you hold, to extend it")


@router.post("/admit/{space_id}", summary="Ask to listen with a join grant, on any origin",
             responses={403: {"description": "grant not genuine, lapsed or for another space"}})
async def admit(space_id: str, body: AdmitBody, request: Request) -> Response:
    anywhere: Anywhere = request.app.state.anywhere
    address = client_address(request.scope, request.app.state.trusted)
    return _answer(await anywhere.admit(space_id, body.grant, body.renew, address, time.time()))


class AudienceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    origin: str = Field(max_length=32)
    count: int = Field(ge=0, le=100_000_000)
    at: float
    sig: str = Field(max_length=64)


@router.post("/spaces/{space_id}/audience", status_code=204,
             summary="Origins only: how many listeners an origin admitted with grants")
async def audience(space_id: str, body: AudienceBody, request: Request) -> Response:
    _spaces(request).get(space_id)  # 404 unless this origin is the space's home
    anywhere: Anywhere = request.app.state.anywhere
    if not anywhere.receive(space_id, body.origin, body.count, body.at, body.sig, time.time()):
        raise SpaceError(403, "bad_report", "the report is not signed with the origins' secret "
                                            "or its time is off")
    return Response(status_code=204)


class LeaveBody(BaseModel):
    ticket: str = Field(max_length=100)


@router.post("/spaces/{space_id}/leave", status_code=204, summary="Give the seat back")
async def leave_space(space_id: str, body: LeaveBody, request: Request) -> Response:
    seat = _admissions(request).leave(_spaces(request).get(space_id), body.ticket, time.time())
    if seat is not None:  # or a grant seat this origin counted
        anywhere: Anywhere = request.app.state.anywhere
        anywhere.leave(space_id, seat)
    return Response(status_code=204)


class ReactionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    emoji: str = Field(max_length=16)
    count: int = Field(default=1, ge=1, le=20, description="taps batched by the client")


@router.post("/spaces/{space_id}/reactions", status_code=202, summary="Send a reaction")
async def react(space_id: str, body: ReactionBody, request: Request) -> dict[str, Any]:
    adm = _admissions(request)
    space = _spaces(request).get(space_id)
    address = client_address(request.scope, request.app.state.trusted)
    ok, wait = adm.reaction_limits.allow(address, time.monotonic())
    if not ok:
        raise SpaceError(429, "rate_limited", f"slow down; retry in {max(1, int(wait + 1))} s")
    try:
        space.reactions.add(body.emoji, time.time(), body.count)
    except ValueError as exc:
        raise SpaceError(422, "invalid_request", f"emoji: {exc}") from None
    return {"accepted": body.count}


def _operator(request: Request, authorization: str | None) -> None:
    key: str = request.app.state.settings.admin_key
    given = _bearer(authorization) or ""
    if not key or not hmac.compare_digest(given.encode(), key.encode()):
        raise SpaceError(401, "bad_admin_key", "operator calls need the admin key as Bearer")


@router.get("/admin/metrics", summary="Operator: counters, pressure, attack mode")
async def metrics(request: Request,
                  authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    _operator(request, authorization)
    return _admissions(request).metrics(time.time())


class AttackModeBody(BaseModel):
    mode: str = Field(description="on, off or auto")


@router.put("/admin/attack-mode", summary="Operator: force attack mode on/off, or auto")
async def set_attack_mode(body: AttackModeBody, request: Request,
                          authorization: Annotated[str | None, Header()] = None
                          ) -> dict[str, Any]:
    _operator(request, authorization)
    adm = _admissions(request)
    try:
        adm.attack.set_mode(body.mode)
    except ValueError as exc:
        raise SpaceError(422, "invalid_request", f"mode: {exc}") from None
    state: dict[str, Any] = adm.metrics(time.time())["attack_mode"]
    return state


class LatencyTierBody(BaseModel):
    mode: str = Field(description="low, standard or auto (standard for new joiners under "
                                  "origin or edge pressure)")
    space: str | None = Field(default=None, description="one space; without it, every space "
                                                        "that has no choice of its own")


@router.put("/admin/latency-tier", summary="Operator: the latency tier new joiners get")
async def set_latency_tier(body: LatencyTierBody, request: Request,
                           authorization: Annotated[str | None, Header()] = None
                           ) -> dict[str, Any]:
    _operator(request, authorization)
    tiers: LatencyTiers = request.app.state.latency_tiers
    if body.space is not None:
        _spaces(request).get(body.space)  # 404 for a space that does not exist
    try:
        tiers.set_mode(body.mode, body.space)
    except ValueError as exc:
        raise SpaceError(422, "invalid_request", f"mode: {exc}") from None
    return {"mode": tiers.mode, "spaces": dict(tiers.per_space)}
