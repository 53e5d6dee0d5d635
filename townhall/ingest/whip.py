"""The WHIP edge (RFC 9725): speakers publish WebRTC audio with one HTTP POST.

  POST   /whip/{space_id}                     SDP offer (application/sdp), Bearer host key or
                                              speaker token -> 201, SDP answer, Location
  DELETE /whip/{space_id}/session/{id}        the same Bearer -> 200: leave the stage
  PATCH  /whip/{space_id}/session/{id}        405: no trickle ICE or ICE restart (the answer
                                              carries every candidate; send a full offer), so
                                              `Allow` never lists PATCH (RFC 9725 §4.3.1)
  OPTIONS on both                             CORS preflight, Accept-Post: application/sdp

The CORS preflight does allow PATCH (and the If-Match a trickle PATCH carries): a standard
WHIP client on another site sends one, and only a preflight that lets it through lets that
page read the 405 that tells it trickle is not supported; refused there, the browser shows
the page "Failed to fetch" instead.

Thin: reads and checks the request (size, media type, SDP shape), calls the speakers service,
writes the answer. Sessions are a pool with a per-network share (live.stage.speakers,
`whip_max_sessions`, `whip_sessions_per_network`, the operator's `whip_operator_reserved`):
the slot is taken for the caller's address (X-Real-IP from a trusted edge,
delivery.client_ip) once the token is known and before the offer is read, and given back if
the offer is refused. Every refusal is JSON {"error", "detail"} (with Retry-After when
waiting helps), and CORS headers ride on every answer so a page on another origin can read
them. Never touches the program or aiortc itself.
"""

from __future__ import annotations

from aiortc.sdp import SessionDescription
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from townhall.delivery.client_ip import client_address
from townhall.errors import error_response
from townhall.ingest.candidates import (
    AmbiguousLines,
    TooManyCandidates,
    TooManyMedia,
    parse_networks,
    screen,
)
from townhall.live.errors import SpaceError
from townhall.live.stage.speakers import Speakers
from townhall.ops.metrics import WHIP_CANDIDATES_DROPPED, WHIP_OFFERS_REFUSED

CORS = {
    "Access-Control-Allow-Origin": "*",  # bearer tokens, no cookies: any origin may publish
    # PATCH: to be answered 405 (RFC 9725 §4.3.1), not refused by the browser
    "Access-Control-Allow-Methods": "POST, DELETE, PATCH, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
    "Access-Control-Expose-Headers": "Location, Link, Allow",
    "Access-Control-Max-Age": "600",
}
SDP_TYPE = "application/sdp"
SUPPORTED_CODECS = ("audio/opus", "audio/pcmu", "audio/pcma")


def check_offer(sdp: str) -> None:
    """Refuse, with a reason, an offer aiortc could not use. No I/O."""
    if not sdp.startswith("v=0"):
        raise SpaceError(400, "malformed_sdp", "an SDP offer starts with the line v=0")
    try:
        desc = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc's parser asserts and raises several types
        raise SpaceError(400, "malformed_sdp",
                         f"the SDP offer does not parse ({type(exc).__name__}: {exc})") from None
    audio = [m for m in desc.media if m.kind == "audio"]
    if not audio:
        raise SpaceError(422, "no_audio", "the offer has no m=audio section to publish")
    media = audio[0]
    if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
        raise SpaceError(400, "malformed_sdp", "the offer lacks a=ice-ufrag and a=ice-pwd")
    if media.dtls is None or not media.dtls.fingerprints:
        raise SpaceError(400, "malformed_sdp", "the offer lacks a=fingerprint (DTLS-SRTP)")
    codecs = {c.mimeType.lower() for c in media.rtp.codecs}
    if not codecs & set(SUPPORTED_CODECS):
        raise SpaceError(422, "unsupported_codec",
                         "offer Opus (or PCMU/PCMA) audio; got " + (", ".join(sorted(codecs))
                                                                    or "no codec"))


def _screen(offer: str, service: Speakers) -> str:
    """Count and screen the remote candidates (no reflection at third parties) and the media
    sections, on the lines aiortc's parser will read, before any SDP parser or ICE agent
    runs (townhall.ingest.candidates)."""
    s = service.settings
    try:
        screened = screen(offer, s.stage.whip_max_candidates,
                          parse_networks(s.stage.whip_candidate_networks), s.stage.whip_max_media)
    except AmbiguousLines as exc:
        WHIP_OFFERS_REFUSED.labels("ambiguous_line_breaks").inc()
        raise SpaceError(400, "ambiguous_line_breaks", str(exc)) from None
    except TooManyMedia as exc:
        WHIP_OFFERS_REFUSED.labels("too_many_media").inc()
        raise SpaceError(400, "too_many_media", str(exc)) from None
    except TooManyCandidates as exc:
        WHIP_OFFERS_REFUSED.labels("too_many_candidates").inc()
        raise SpaceError(400, "too_many_candidates", str(exc)) from None
    if screened.dropped:
        service.candidates_dropped += screened.dropped
        WHIP_CANDIDATES_DROPPED.inc(screened.dropped)
    return screened.sdp


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return (value.strip() or None) if scheme.lower() == "bearer" else None


def _error(exc: SpaceError) -> Response:
    headers = dict(CORS)
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if exc.retry_after is not None:  # 429 network_share, 503 whip_full / origin_full ...
        headers["Retry-After"] = str(max(1, int(exc.retry_after + 0.999)))
    return error_response(exc.status, exc.code, exc.message, headers)


def _speakers(request: Request) -> Speakers:
    service: Speakers = request.app.state.speakers
    return service


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise SpaceError(413, "body_too_large", f"an SDP offer is at most {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise SpaceError(413, "body_too_large", f"an SDP offer is at most {limit} bytes")
    return bytes(body)


def _link_headers(service: Speakers) -> list[str]:
    # RFC 9725: the ICE servers a client may use, as Link rel="ice-server" headers
    links = []
    for server in service.ice_servers:
        for url in [server.urls] if isinstance(server.urls, str) else server.urls:
            link = f'<{url}>; rel="ice-server"'
            if server.username:
                link += f'; username="{server.username}"; credential="{server.credential}"'
                link += '; credential-type="password"'
            links.append(link)
    return links


async def publish(request: Request) -> Response:
    if request.method == "OPTIONS":
        return Response(status_code=204, headers={**CORS, "Accept-Post": SDP_TYPE,
                                                  "Allow": "POST, OPTIONS"})
    service = _speakers(request)
    space_id = request.path_params["space_id"]
    slot: int | None = None
    published = False
    try:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != SDP_TYPE:
            raise SpaceError(415, "unsupported_media_type",
                             f"send the SDP offer as Content-Type: {SDP_TYPE}")
        space = service.spaces.get(space_id)  # 404 before the body is read
        seat = service.seats.identify(space, _bearer(request))  # 401/403 before the SDP is read
        # a WHIP session slot for this network (429/503) before the offer is read; the
        # operator's host and invited speakers may take the reserved ones
        slot = service.pool.take(client_address(request.scope, request.app.state.trusted),
                                 service.pool.operator_offer(space, seat))
        body = await _read_body(request, service.settings.stage.whip_max_body)
        try:
            offer = body.decode("utf-8")
        except UnicodeDecodeError:
            raise SpaceError(400, "malformed_sdp", "the SDP offer is not UTF-8 text") from None
        offer = _screen(offer, service)
        check_offer(offer)
        session, answer = await service.publish(space_id, _bearer(request), offer, slot)
        published = True
    except SpaceError as exc:
        return _error(exc)
    finally:
        if slot is not None and not published:
            service.pool.release(slot)
    location = f"/whip/{space_id}/session/{session.id}"
    response = Response(answer, status_code=201, media_type=SDP_TYPE,
                        headers={**CORS, "Location": location, "Cache-Control": "no-store"})
    for link in _link_headers(service):
        response.headers.append("Link", link)
    return response


async def session(request: Request) -> Response:
    if request.method == "OPTIONS":
        return Response(status_code=204, headers={**CORS, "Allow": "DELETE, OPTIONS"})
    if request.method == "PATCH":
        # RFC 9725: a session that supports neither trickle ICE nor ICE restarts answers 405
        return error_response(405, "method_not_allowed",
                              "this server takes no trickle ICE or ICE restart: gather every "
                              "candidate before the POST, and publish again to restart",
                              {**CORS, "Allow": "DELETE, OPTIONS"})
    try:
        await _speakers(request).unpublish(request.path_params["space_id"],
                                           request.path_params["session_id"], _bearer(request))
    except SpaceError as exc:
        return _error(exc)
    return Response(status_code=200, headers=CORS)


routes = [
    Route("/whip/{space_id}", publish, methods=["POST", "OPTIONS"]),
    Route("/whip/{space_id}/session/{session_id}", session,
          methods=["DELETE", "PATCH", "OPTIONS"]),
]
