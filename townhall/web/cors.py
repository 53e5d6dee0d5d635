"""CORS as ASGI middleware: answers preflights and adds the headers the policy gives.

Thin edge over `townhall.delivery.cors` (which says who may read what, and why). Runs
outermost, so refusals from shedding carry the headers too and a preflight costs no
framework work. Passes through requests without an `Origin` and paths it does not cover.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from townhall.delivery.cors import CorsPolicy, audience


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class Cors:
    def __init__(self, app: ASGIApp, policy: CorsPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        path, method = scope["path"], scope["method"]
        requested = _header(scope, b"access-control-request-method")
        if origin is not None and method == "OPTIONS" and requested is not None \
                and audience(requested, path) is not None:
            headers = self.policy.headers(requested, path, origin, preflight=True)
            await send({"type": "http.response.start", "status": 204, "headers": [
                (b"content-length", b"0"), (b"cache-control", b"public, max-age=600"),
                (b"vary", b"Origin, Access-Control-Request-Method"),
                *[(k.lower().encode(), v.encode()) for k, v in headers]]})
            await send({"type": "http.response.body", "body": b""})
            return
        extra = [(k.lower().encode(), v.encode())
                 for k, v in self.policy.headers(method, path, origin)]
        if not extra:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_cors)
