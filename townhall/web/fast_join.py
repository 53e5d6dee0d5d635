"""ASGI middleware: joins (`POST /api/spaces/{id}/join`, and `POST /api/admit/{id}` with a
join grant) answered without the web framework.

At the scheduled minute joins are the origin's hottest request, and a profile of a join storm
put 90 % of a join's time in routing, dependency solving and response classes, 4 % in
admission itself. This answers joins straight from ASGI with the same rules as the documented
route in `web.api` (which stays for /docs and for anything this does not recognise): the same
body model, rate limits, admission call and JSON error bodies. It runs outside the framework
(`web.app.outer`) and inside `Shedding`, so overload still sheds joins by priority; it
enforces the JSON body limit itself and answers its own failures as JSON 500.
"""

from __future__ import annotations

import json
import logging
import re
import time

from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from townhall.live.errors import SpaceError
from townhall.live.joins.admissions import Admissions, JoinRequest
from townhall.live.joins.grant_admission import GrantAdmission
from townhall.live.registry.spaces import Spaces
from townhall.web.api import AdmitBody, JoinBody
from townhall.web.client_ip import Network, client_address
from townhall.web.shedding import send_json

log = logging.getLogger("townhall.web")
JOIN_PATH = re.compile(r"^/api/spaces/([^/]{1,64})/join$")
ADMIT_PATH = re.compile(r"^/api/admit/([^/]{1,64})$")


class FastJoin:
    def __init__(self, app: ASGIApp, *, admissions: Admissions, spaces: Spaces,
                 grant_admission: GrantAdmission, trusted: list[Network], max_body: int) -> None:
        self.app = app
        self.admissions = admissions
        self.grant_admission = grant_admission
        self.spaces = spaces
        self.trusted = trusted
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        m = JOIN_PATH.match(scope["path"])
        a = None if m else ADMIT_PATH.match(scope["path"])
        if m is None and a is None:
            await self.app(scope, receive, send)
            return
        body = await self._body(scope, receive)
        if body is None:
            await send_json(send, 413, {"error": "body_too_large", "detail":
                                        f"request body exceeds {self.max_body} bytes"})
            return
        try:
            if m is not None:
                status, payload, headers = await self.join(scope, m.group(1), body)
            else:
                assert a is not None
                status, payload, headers = await self.admit(scope, a.group(1), body)
        except Exception:  # the framework's error handler is not around us: do its job
            log.exception("unhandled error in a join")
            status, payload, headers = 500, {
                "error": "internal_error",
                "detail": "the server failed on this request; it has been logged"}, None
        await send_json(send, status, payload, headers)

    async def _body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The request body, or None past the limit (declared or sent)."""
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.max_body):
                return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return b""
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def join(self, scope: Scope, space_id: str,
                   body: bytes) -> tuple[int, dict[str, object], dict[str, str] | None]:
        adm = self.admissions
        address = client_address(scope, self.trusted)
        refused = await adm.over_join_budget(address)
        if refused is not None:
            return refused
        try:
            space = self.spaces.get(space_id)
        except SpaceError as exc:
            return exc.status, {"error": exc.code, "detail": exc.message}, None
        try:
            b = JoinBody.model_validate_json(body) if body.strip() else JoinBody()
        except ValidationError as exc:
            return 422, {"error": "invalid_request", "detail": _problems(exc)}, None
        try:
            status, payload = await adm.join(
                space, JoinRequest(b.token, b.renew, b.challenge, b.solution, b.seat_secret,
                                   address),
                time.time())
        except SpaceError as exc:
            return exc.status, {"error": exc.code, "detail": exc.message}, None
        retry = payload.get("retry_after_s")
        return status, payload, {"Retry-After": str(retry)} if retry is not None else None


    async def admit(self, scope: Scope, space_id: str,
                    body: bytes) -> tuple[int, dict[str, object], dict[str, str] | None]:
        try:
            b = AdmitBody.model_validate_json(body or b"{}")
        except ValidationError as exc:
            return 422, {"error": "invalid_request", "detail": _problems(exc)}, None
        return await self.grant_admission.admit(space_id, b.grant, b.renew,
                                                client_address(scope, self.trusted),
                                                time.time(), b.seat_secret)


def _problems(exc: ValidationError) -> str:
    """The same wording as the framework's 422 answers (web.errors)."""
    out = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "body"
        msg = err.get("msg", "invalid")
        if err.get("type") == "json_invalid":
            msg = f"JSON decode error ({json.dumps(err.get('ctx', {}).get('error', ''))})"
        out.append(f"{where}: {msg}")
    return "; ".join(out)
