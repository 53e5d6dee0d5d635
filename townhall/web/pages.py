"""HTML pages: home, listener page, host page. Static files that talk to the JSON API."""

from __future__ import annotations

import hashlib
import os
import re
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from townhall.web.oembed import discovery_link

STATIC = Path(__file__).parent / "static"
SPACE_ID_RE = re.compile(r"^[a-z0-9]{10}$")
PAGE_HEADERS = {"Cache-Control": "public, max-age=60, stale-while-revalidate=600, "
                                 "stale-if-error=86400"}


class CachedStatic(StaticFiles):
    """The pages' scripts, styles and icons with the pages' own caching: a browser or an edge
    keeps serving them (stale) while the origin sheds "other" requests first under load, so
    a page that loaded keeps its modules. 304s keep their validators as StaticFiles gives."""

    def file_response(self, full_path: os.PathLike[str] | str, stat_result: os.stat_result,
                      scope: Scope, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = PAGE_HEADERS["Cache-Control"]
        return response


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC / name, media_type="text/html", headers=PAGE_HEADERS)


async def home(_: Request) -> Response:
    return _page("index.html")


async def space_page(request: Request) -> Response:
    # the oEmbed discovery link (oembed.com §4), so a pasted link becomes the player
    sid = request.path_params["space_id"]
    if not SPACE_ID_RE.match(sid):
        return _page("space.html")
    base = request.app.state.settings.listen.base_url
    html = _space_html().replace("</head>", discovery_link(base, sid) + "\n</head>", 1)
    etag = '"' + hashlib.sha256(html.encode()).hexdigest()[:32] + '"'
    headers = {**PAGE_HEADERS, "ETag": etag}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return HTMLResponse(html, headers=headers)


@cache
def _space_html() -> str:
    return (STATIC / "space.html").read_text()


async def host_page(_: Request) -> Response:
    return FileResponse(STATIC / "host.html", media_type="text/html",
                        headers={"Cache-Control": "no-store"})


async def favicon(_: Request) -> Response:
    # browsers ask for /favicon.ico whatever the page links: answer it, never a 404
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml",
                        headers={"Cache-Control": "public, max-age=86400"})


routes = [
    Route("/", home),
    Route("/favicon.ico", favicon),
    Route("/spaces/{space_id}", space_page),
    Route("/spaces/{space_id}/host", host_page),
    Mount("/static", app=CachedStatic(directory=STATIC), name="static"),
]
