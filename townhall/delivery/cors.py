"""Which other sites may read what (CORS): one policy for the origin app and the edge. Sans-IO.

Two classes of request, decided from the method and path alone:
- **public**: live and replay media (`/live/`, `/replay/`), the public record (`/record/`,
  `/.well-known/townhall-signing.json`: a verifier page elsewhere checks a replay with them),
  the details documents
  (`GET /api/spaces`, `GET /api/spaces/ID`) and a listener's own calls (join, admit, leave,
  reactions). Open to `cors_origins` (default `*`: any site may embed a player). They carry
  no ambient credentials (townhall sets no cookies; a ticket rides in the URL, a grant or a
  waiting token in the body), so a foreign page gains nothing it could not fetch itself,
  and every limit (rate, cap, waiting room, tickets) still holds per address.
- **host**: everything else under `/api/` (create, end, host details, the stage, operator
  calls), which carries a host or admin key in `Authorization`. Open only to
  `cors_host_origins` (default: none, i.e. the townhall site itself): a host console
  embedded elsewhere is an operator's explicit choice, and a page that obtained a key cannot
  drive the host API from its visitors' browsers.
`Access-Control-Allow-Credentials` is never sent. `/whip` keeps its own CORS (RFC 9725: a
bearer token, any origin may publish). Never does I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

PUBLIC_READ = re.compile(r"^/(live|replay|record)/|^/\.well-known/townhall-signing\.json$"
                         r"|^/api/spaces/?$|^/api/spaces/[^/]+$")
PUBLIC_WRITE = re.compile(r"^/api/spaces/[^/]+/(join|leave|reactions)$|^/api/admit/[^/]+$")
API = re.compile(r"^/api/")
PUBLIC_METHODS = "GET, HEAD, POST, OPTIONS"
HOST_METHODS = "GET, HEAD, POST, PUT, DELETE, OPTIONS"
ALLOW_HEADERS = "Content-Type, Range, If-None-Match, If-Range"
HOST_ALLOW_HEADERS = "Authorization, Content-Type"
EXPOSE_HEADERS = ("Content-Length, Content-Range, Accept-Ranges, ETag, Retry-After, "
                  "Location")
MAX_AGE_S = 600


class Audience(Enum):
    PUBLIC = "public"
    HOST = "host"


def audience(method: str, path: str) -> Audience | None:
    """Which class a request belongs to (a preflight by its requested method); None: not
    a CORS resource here (pages, static files, /whip with its own headers)."""
    if PUBLIC_READ.search(path) and method in ("GET", "HEAD", "OPTIONS"):
        return Audience.PUBLIC
    if PUBLIC_WRITE.search(path) and method in ("POST", "OPTIONS"):
        return Audience.PUBLIC
    if API.search(path):
        return Audience.HOST
    return None


def parse_origins(value: str) -> tuple[str, ...]:
    """`*`, or comma-separated `scheme://host[:port]` origins; ValueError otherwise."""
    items = tuple(o.strip().rstrip("/") for o in value.split(",") if o.strip())
    for o in items:
        if o != "*" and not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+", o):
            raise ValueError(f"CORS origin {o!r}: expected * or scheme://host[:port]")
    return items


@dataclass(frozen=True)
class CorsPolicy:
    public_origins: tuple[str, ...] = ("*",)
    host_origins: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, public: str, host: str) -> CorsPolicy:
        return cls(parse_origins(public), parse_origins(host))

    def _allowed(self, origins: tuple[str, ...], origin: str) -> str | None:
        if "*" in origins:
            return "*"
        return origin if origin in origins else None

    def headers(self, method: str, path: str, origin: str | None,
                preflight: bool = False) -> list[tuple[str, str]]:
        """Headers for a request from `origin` (empty when it is not allowed: the browser
        then refuses to hand the answer to the page)."""
        if origin is None:
            return []
        kind = audience(method, path)
        if kind is None:
            return []
        origins = self.public_origins if kind is Audience.PUBLIC else self.host_origins
        allowed = self._allowed(origins, origin)
        if allowed is None:
            return []
        out = [("Access-Control-Allow-Origin", allowed)]
        if allowed != "*":
            out.append(("Vary", "Origin"))
        if preflight:
            public = kind is Audience.PUBLIC
            out += [("Access-Control-Allow-Methods", PUBLIC_METHODS if public else HOST_METHODS),
                    ("Access-Control-Allow-Headers",
                     ALLOW_HEADERS if public else HOST_ALLOW_HEADERS),
                    ("Access-Control-Max-Age", str(MAX_AGE_S))]
        else:
            out.append(("Access-Control-Expose-Headers", EXPOSE_HEADERS))
        return out
