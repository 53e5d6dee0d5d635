"""oEmbed (oembed.com §2.2): `/oembed?url=<a space's page>` answers a `rich` type whose HTML is
an `<iframe>` of `/embed/ID`, so a CMS that is pasted a space's link shows the player.

Edge. Only this deployment's own space pages (or embed URLs) are accepted: another host, an
unknown space or a malformed URL is a 404 (§2.3.4.1: "no response for the requested URL");
a missing url or a format other than json is 400 / 501 (§2.3.4.1). Space pages announce it
with `<link rel="alternate" type="application/json+oembed">` (discovery, §4).
"""

from __future__ import annotations

import re
from html import escape
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from townhall.errors import error_response
from townhall.live.errors import SpaceError
from townhall.live.registry.spaces import Spaces

PATH_RE = re.compile(r"^/(?:spaces|embed)/([a-z0-9]{10})/?$")


def discovery_link(base_url: str, space_id: str) -> str:
    page = f"{base_url}/spaces/{space_id}"
    return (f'<link rel="alternate" type="application/json+oembed" '
            f'href="{escape(base_url)}/oembed?url={quote(page, safe="")}" '
            f'title="townhall player">')


async def oembed(request: Request) -> Response:
    spaces: Spaces = request.app.state.spaces
    s = spaces.settings
    url = request.query_params.get("url")
    if not url:
        return error_response(400, "url_required", "give ?url= a space's page URL")
    if request.query_params.get("format", "json") != "json":
        return error_response(501, "format_not_supported", "only format=json is offered")
    try:
        parts = urlsplit(url)
    except ValueError:
        return error_response(404, "not_a_space", "that URL is not a space on this server")
    own = urlsplit(s.listen.base_url)
    match = PATH_RE.match(parts.path)
    if (parts.scheme, parts.netloc) != (own.scheme, own.netloc) or match is None:
        return error_response(404, "not_a_space",
                              f"only {s.listen.base_url}/spaces/ID is embeddable")
    try:
        space = spaces.get(match.group(1))
    except SpaceError:
        return error_response(404, "not_a_space", "no such space")
    width, height = s.reach.embed_width, s.reach.embed_height
    max_w = request.query_params.get("maxwidth", "")
    if max_w.isdigit() and 0 < int(max_w) < width:  # §2.2: never wider than asked
        width = int(max_w)
    src = f"{s.listen.base_url}/embed/{space.record.id}"
    title = escape(space.record.title)
    return JSONResponse({
        "version": "1.0", "type": "rich", "provider_name": "townhall",
        "provider_url": s.listen.base_url, "title": space.record.title,
        "author_name": space.record.host, "width": width, "height": height,
        "cache_age": 3600,
        "html": (f'<iframe src="{src}" width="{width}" height="{height}" title="{title}" '
                 'frameborder="0" allow="autoplay" loading="lazy"></iframe>')},
        # private: shared caches key pages by path (the edge: `$uri`), and this answer
        # depends on its query; a CMS or browser may keep it
        headers={"Cache-Control": "private, max-age=300"})


routes = [Route("/oembed", oembed)]
