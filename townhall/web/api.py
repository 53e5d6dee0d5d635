"""Control API routes: create, list, read and end spaces. Thin edge over live.spaces.

Reads come from memory; writes go through the service (which writes the store). Never
serves media.
"""

from __future__ import annotations

import hmac
import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from townhall.delivery import cache
from townhall.delivery.latency_tier import LatencyTiers
from townhall.live.descriptors import open_files_limit
from townhall.live.errors import SpaceError, bad_key
from townhall.live.joins.admissions import Admissions, Answer, JoinRequest
from townhall.live.joins.grant_admission import GrantAdmission
from townhall.live.registry.host_keys import KeyRotation
from townhall.live.registry.hosting import Hosting, Identity
from townhall.live.registry.space_ending import SpaceEnding
from townhall.live.registry.spaces import Spaces
from townhall.live.sources.push_sources import PushSources
from townhall.space.space_record import iso
from townhall.web import connection_cap
from townhall.web.client_ip import client_address
from townhall.web.space_documents import SpaceDocuments

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


def _documents(request: Request) -> SpaceDocuments:
    documents: SpaceDocuments = request.app.state.documents
    return documents


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _invalid(detail: str) -> SpaceError:
    return SpaceError(422, "invalid_request", detail)


def _hosting(request: Request) -> Hosting:
    hosting: Hosting = request.app.state.hosting
    return hosting


async def _hosting_identity(request: Request,
                            authorization: Annotated[str | None, Header()] = None
                            ) -> Identity:
    """Runs before the body is read or validated: no credential, no work."""
    return _hosting(request).require(_bearer(authorization))


@router.post("/spaces", status_code=201, summary="Create a space (hosting API key as Bearer)",
             responses={401: {"description": "no or unknown hosting key"},
                        429: {"description": "this key's quota"},
                        503: {"description": "this origin's quota"}})
async def create_space(body: CreateSpace, request: Request,
                       who: Annotated[Identity, Depends(_hosting_identity)]) -> dict[str, Any]:
    spaces = _spaces(request)
    hosting = _hosting(request)
    s = spaces.settings
    title, host = body.title.strip(), body.host.strip()
    if not title or len(title) > s.limits.max_title_chars:
        raise _invalid(f"title: must be 1 to {s.limits.max_title_chars} characters")
    if not host or len(host) > s.limits.max_host_chars:
        raise _invalid(f"host: must be 1 to {s.limits.max_host_chars} characters")
    cap = body.listener_cap
    if cap is not None and not 1 <= cap <= s.admission.max_listener_cap:
        raise _invalid(f"listener_cap: must be between 1 and {s.admission.max_listener_cap}")
    start = None
    if body.scheduled_start is not None:
        when = body.scheduled_start
        if when.tzinfo is None:
            raise _invalid("scheduled_start: give a time zone (e.g. 2026-11-23T18:00:00Z)")
        start = when.timestamp()
    now = time.time()
    await hosting.check_create(who, now)
    space, key = await spaces.create(title, host, start, cap)
    await hosting.created(who, space.record.id, now)
    documents = _documents(request)
    doc = documents.details(space, time.time())
    doc.update(host_key=key, ingest_url=documents.ingest_url(space, key),
               host_url=f"{s.listen.base_url}/spaces/{space.record.id}/host#key={key}")
    return doc


@router.get("/spaces", summary="List spaces, newest first")
async def list_spaces(request: Request, response: Response) -> dict[str, Any]:
    spaces = _spaces(request)
    now = time.time()
    # ended spaces drop off the list after this
    shown = now - spaces.settings.hosting.ended_listed_s
    items = sorted((sp for sp in spaces.all()
                    if sp.record.ended_at is None or sp.record.ended_at > shown),
                   key=lambda sp: sp.record.created_at, reverse=True)
    response.headers["Cache-Control"] = cache.status_document()
    return {"spaces": [_documents(request).details(sp, now)
                       for sp in items[: spaces.settings.limits.max_spaces_listed]]}


@router.get("/spaces/{space_id}", summary="A space's details (precomputed, cacheable)")
async def get_space(space_id: str, request: Request) -> Response:
    spaces = _spaces(request)
    body = _documents(request).status_bytes(spaces.get(space_id), time.time())
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
    documents = _documents(request)
    doc = documents.details(space, time.time())
    session = space.ingest
    doc.update(source={"connected": session is not None and not session.closed,
                       "takeovers": space.takeovers, "last_takeover": iso(space.last_takeover)},
               ingest_url=documents.ingest_url(space, key),
               ingest_http_url=f"http://{s.listen.ingest_host}:{s.listen.ingest_port}/ingest/{space_id}",
               ffmpeg_command=("ffmpeg -re -i talk.mp3 -c:a aac -f adts "
                               f"'{documents.ingest_url(space, key)}'"))
    return doc


@router.post("/spaces/{space_id}/rotate-key",
             summary="A new host key; cuts off the source using the old one (the owner's or an "
                     "admin's API key as Bearer: never the host key itself)")
async def rotate_key(space_id: str, request: Request,
                     authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    spaces = _spaces(request)
    space = spaces.get(space_id)
    bearer = _bearer(authorization)
    # least privilege: the host key rides in every ingest URL (encoders, OBS profiles, shell
    # history), so whoever holds it may stream but not take the space from its owner
    hosting = _hosting(request)
    who = hosting.identify(bearer)
    if who is None or not hosting.owns(who, space_id):
        if spaces.keys.ok(space, bearer):
            raise SpaceError(403, "owner_key_required",
                             "the host key cannot rotate itself: rotate with the API key that "
                             "created the space (or the operator's admin key)")
        raise bad_key()
    rotation: KeyRotation = request.app.state.key_rotation
    key = await rotation.rotate(space)  # the host's WebRTC session ends too (on_rotated)
    s = spaces.settings
    return {"host_key": key, "ingest_url": _documents(request).ingest_url(space, key),
            "host_url": f"{s.listen.base_url}/spaces/{space_id}/host#key={key}"}


@router.post("/spaces/{space_id}/end", summary="End the space (host key as Bearer token)")
async def end_space(space_id: str, request: Request,
                    authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    ending: SpaceEnding = request.app.state.ending
    space = await ending.end(space_id, _bearer(authorization))
    return _documents(request).details(space, time.time())


class JoinBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str | None = Field(default=None, max_length=64,
                              description="your waiting-room place, to poll it")
    renew: str | None = Field(default=None, max_length=100,
                              description="the ticket you hold, to extend it")
    challenge: str | None = Field(default=None, max_length=200)
    solution: str | None = Field(default=None, max_length=20)
    seat_secret: str | None = Field(default=None, max_length=64,
                                    description="from the join answer: needed to renew")


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
    address = client_address(request.scope, request.app.state.trusted)
    refused = await adm.over_join_budget(address)
    if refused is not None:
        return _answer(refused)
    space = _spaces(request).get(space_id)
    b = body or JoinBody()
    status, payload = await adm.join(space, JoinRequest(b.token, b.renew, b.challenge,
                                                        b.solution, b.seat_secret, address),
                                     time.time())
    headers = {"Cache-Control": "no-store"}
    if "retry_after_s" in payload:
        headers["Retry-After"] = str(payload["retry_after_s"])
    return JSONResponse(payload, status_code=status, headers=headers)


class AdmitBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grant: str = Field(max_length=120, description="join_grant from the space's details")
    renew: str | None = Field(default=None, max_length=100,
                              description="the ticket you hold, to extend it")
    seat_secret: str | None = Field(default=None, max_length=64,
                                    description="from the join answer: needed to renew")


@router.post("/admit/{space_id}", summary="Ask to listen with a join grant, on any origin",
             responses={403: {"description": "grant not genuine, lapsed or for another space"}})
async def admit(space_id: str, body: AdmitBody, request: Request) -> Response:
    grants: GrantAdmission = request.app.state.grant_admission
    address = client_address(request.scope, request.app.state.trusted)
    return _answer(await grants.admit(space_id, body.grant, body.renew, address, time.time(),
                                      body.seat_secret))


class LeaveBody(BaseModel):
    ticket: str = Field(max_length=100)
    seat_secret: str | None = Field(default=None, max_length=64,
                                    description="from the join answer: proves the seat")


@router.post("/spaces/{space_id}/leave", status_code=204, summary="Give the seat back")
async def leave_space(space_id: str, body: LeaveBody, request: Request) -> Response:
    now = time.time()
    seat = await _admissions(request).leave(_spaces(request).get(space_id), body.ticket,
                                            now, body.seat_secret)
    if seat is not None:  # or a grant seat this origin counted
        grants: GrantAdmission = request.app.state.grant_admission
        grants.leave(space_id, seat, now)
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
    key: str = request.app.state.settings.ops.admin_key
    given = _bearer(authorization) or ""
    if key and hmac.compare_digest(given.encode(), key.encode()):
        return
    who = _hosting(request).identify(given)
    if who is None or not who.admin:
        raise SpaceError(401, "bad_admin_key", "operator calls need an admin key as Bearer")


@router.get("/admin/metrics", summary="Operator: counters, pressure, attack mode")
async def metrics(request: Request,
                  authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    _operator(request, authorization)
    doc = _admissions(request).metrics(time.time())
    sources: PushSources = request.app.state.push_sources
    doc["ingest"] = sources.metrics()
    doc["resources"] = _resources(request)
    return doc


def _resources(request: Request) -> dict[str, Any]:
    """Descriptors, connection caps and the recorders' write health."""
    st = request.app.state
    recorders = [sp.program.recorder for sp in st.spaces.all() if sp.program is not None]
    reserve = st.reserve
    ingest = getattr(st, "ingest", None)
    return {"open_files_limit": open_files_limit(),
            "http_connections": connection_cap.metrics(),
            "ingest_connections": {"open": ingest.connections if ingest else 0,
                                   "refused": ingest.refused if ingest else 0},
            "recording": {"write_errors": sum(r.write_errors for r in recorders),
                          "pending_writes": sum(r.pending for r in recorders),
                          "failing": sum(1 for r in recorders if r.failed is not None),
                          "reserve_held": reserve.held if reserve else 0,
                          "reserve_borrowed": reserve.borrowed if reserve else 0},
            "hosting": {"refused": st.hosting.refused, "expired": st.hosting.expired}}


@router.post("/admin/spaces/{space_id}/seats/{seat}/revoke",
             summary="Operator: revoke a shared ticket (no renewal; its seat is freed)")
async def revoke_seat(space_id: str, seat: str, request: Request,
                      authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    _operator(request, authorization)
    if not seat.isalnum() or len(seat) > 32:
        raise _invalid("seat: 1 to 32 letters and digits")
    await _admissions(request).revoke(_spaces(request).get(space_id), seat, time.time())
    return {"space": space_id, "seat": seat, "revoked": True}


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
