"""Stage API: invite speakers, raise and approve hands, mute, remove, list; the speaker page.

Thin edge over live.speakers. Every call names its caller with `Authorization: Bearer <host
key or speaker token>`, except raising a hand (anyone listening may ask). Errors are the usual
JSON {"error", "detail"}: 401 no or bad token, 403 not allowed (or a token for another space),
404 no such space or seat, 409 wrong state (already live, stage full, removed), 422 bad body.
Never touches media.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from townhall.delivery import cache
from townhall.live.errors import SpaceError
from townhall.live.registry.spaces import LiveSpace
from townhall.live.stage.speakers import Speakers
from townhall.space.roles import Action, Role, Seat, SeatState
from townhall.web.client_ip import client_address
from townhall.web.pages import STATIC

router = APIRouter(prefix="/api/spaces/{space_id}")
ACTIONS = {"approve": Action.APPROVE, "lower": Action.LOWER, "mute": Action.MUTE,
           "unmute": Action.UNMUTE, "cohost": Action.PROMOTE}


def _service(request: Request) -> Speakers:
    service: Speakers = request.app.state.speakers
    return service


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _caller(request: Request, space_id: str, authorization: str | None
            ) -> tuple[Speakers, LiveSpace, Seat]:
    service = _service(request)
    space = service.spaces.get(space_id)
    return service, space, service.seats.identify(space, _bearer(authorization))


def _manager(seat: Seat) -> None:
    if seat.role not in (Role.HOST, Role.COHOST):
        raise SpaceError(403, "not_allowed", "only the host and co-hosts manage the stage")


def _ice(service: Speakers) -> list[dict[str, Any]]:
    """ICE servers as a browser's RTCPeerConnection takes them (empty: host candidates)."""
    return [{"urls": s.urls, **({"username": s.username, "credential": s.credential}
                                if s.username else {})} for s in service.ice_servers]


class InviteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="How the speaker is shown", max_length=200)
    role: Literal["speaker", "cohost"] = Field(default="speaker")


class HandBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="How you are shown if the host approves", max_length=200)


@router.post("/speakers", status_code=201, summary="Invite a speaker: a speaker link")
async def invite(space_id: str, body: InviteBody, request: Request, response: Response,
                 authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    service, space, actor = _caller(request, space_id, authorization)
    _manager(actor)
    request.app.state.hosting.check_owner(space)  # a revoked hosting key invites no one
    seat = service.seats.invite(space, actor, body.name, Role(body.role))
    response.headers["Cache-Control"] = cache.NO_STORE
    return service.seats.seat_doc(space, seat)


@router.get("/speakers", summary="The stage as the host sees it: every seat and raised hand")
async def stage(space_id: str, request: Request, response: Response,
                authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    service, space, actor = _caller(request, space_id, authorization)
    _manager(actor)
    room = service.seats.room(space)
    listed = service.settings.stage.stage_hands_listed  # the document's size is bounded
    hands = room.stage.hands
    seats = [service.seats.seat_doc(space, s) for s in room.stage.seats.values()
             if s.state not in (SeatState.REMOVED, SeatState.RAISED)]
    seats += [service.seats.seat_doc(space, s) for s in hands[:listed]]
    response.headers["Cache-Control"] = cache.NO_STORE
    return {"speaker_cap": room.stage.cap, "live": len(room.stage.live), "seats": seats,
            "hands_waiting": len(hands),
            "whip_url": service.seats.whip_url(space), "ice_servers": _ice(service)}


@router.get("/speakers/me", summary="Your own seat: state, mute, where to publish")
async def me(space_id: str, request: Request, response: Response,
             authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    service, space, actor = _caller(request, space_id, authorization)
    response.headers["Cache-Control"] = cache.NO_STORE
    doc = service.seats.seat_doc(space, actor)
    doc.update(space_title=space.record.title, whip_url=service.seats.whip_url(space),
               ice_servers=_ice(service))
    return doc


@router.post("/hands", status_code=201, summary="Raise your hand: ask the host to speak")
async def raise_hand(space_id: str, body: HandBody, request: Request,
                     response: Response) -> dict[str, Any]:
    service = _service(request)
    space = service.spaces.get(space_id)
    address = client_address(request.scope, request.app.state.trusted)
    seat = service.seats.raise_hand(space, body.name, address)
    response.headers["Cache-Control"] = cache.NO_STORE
    return service.seats.seat_doc(space, seat)


@router.post("/speakers/{seat_id}/{action}",
             summary="approve or lower a raised hand; mute or unmute a speaker; make a "
                     "speaker a co-host (cohost, the host only)")
async def act(space_id: str, seat_id: str, action: str, request: Request,
              authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    if action not in ACTIONS:
        raise SpaceError(404, "not_found", f"unknown action {action!r}; use one of "
                                           + ", ".join(ACTIONS))
    service, space, actor = _caller(request, space_id, authorization)
    seat = await service.seats.act(space, actor, seat_id, ACTIONS[action])
    return service.seats.seat_doc(space, seat)


@router.delete("/speakers/{seat_id}", summary="Remove a speaker (closes their session)")
async def remove(space_id: str, seat_id: str, request: Request,
                 authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    service, space, actor = _caller(request, space_id, authorization)
    seat = await service.seats.act(space, actor, seat_id, Action.REMOVE)
    return service.seats.seat_doc(space, seat)


async def speak_page(_: Request) -> Response:
    return FileResponse(STATIC / "speaker.html", media_type="text/html",
                        headers={"Cache-Control": "no-store"})


routes = [Route("/spaces/{space_id}/speak", speak_page)]
