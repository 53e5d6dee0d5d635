"""The embeddable player: `/embed/ID`, a small page other sites put in an `<iframe>`.

Edge. The page is static (static/embed.html: play/pause, a live badge, the replay after the
end, no stage controls); it loads the player module and polls the space's details like the
space page. Framing is allowed by a CSP `frame-ancestors` from `embed_frame_ancestors`
(default `*`, any site); nothing in townhall sends X-Frame-Options, and this answer must never
carry one (a test checks the headers and a real cross-origin iframe). The space id is checked
here so an unknown one is a 404, not a blank player.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from townhall.live.registry.spaces import Spaces
from townhall.web.pages import PAGE_HEADERS, STATIC


def frame_ancestors(setting: str) -> str:
    """The CSP directive for the setting: `*` or space/comma-separated sources."""
    sources = [s for s in setting.replace(",", " ").split() if s]
    return "frame-ancestors " + (" ".join(sources) if sources else "'none'")


async def embed(request: Request) -> Response:
    spaces: Spaces = request.app.state.spaces
    spaces.get(request.path_params["space_id"])  # 404 for an unknown space
    return FileResponse(STATIC / "embed.html", media_type="text/html", headers={
        **PAGE_HEADERS,
        "Content-Security-Policy": frame_ancestors(spaces.settings.reach.embed_frame_ancestors)})


routes = [Route("/embed/{space_id}", embed)]
