"""`/replay/ID/transcript.vtt`: the replay's transcript, named by the podcast feed's
`podcast:transcript` (web/feeds.py).

Thin edge over reach/transcript.py: the captions kept in the store (reach/transcripts.py)
laid on the replay's timeline. 404 while the space has no published replay or was never
captioned, 410 once the replay is withdrawn (like the replay itself). Public and cacheable
like an ended playlist (captions of the last seconds are kept a few seconds after the end),
with a strong ETag for 304s. Never on the listener path.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from townhall.delivery import cache
from townhall.live.errors import SpaceError
from townhall.live.registry.spaces import Spaces
from townhall.reach import transcript
from townhall.store.reach import ReachStore
from townhall.web.public_record import withdrawn_replay
from townhall.web.ranged import ranged_bytes, strong_etag


async def replay_transcript(request: Request) -> Response:
    spaces: Spaces = request.app.state.spaces
    space = spaces.get(request.path_params["space_id"])
    sid = space.record.id
    await withdrawn_replay(request, sid)
    manifest = await asyncio.to_thread(spaces.recordings.manifest, sid)
    if not space.record.has_replay or manifest is None or not manifest.complete:
        raise SpaceError(404, "no_replay", "this space has no published replay yet")
    reach: ReachStore = request.app.state.stores.reach
    segments = await asyncio.to_thread(reach.transcript, sid)
    if not segments:
        raise SpaceError(404, "no_transcript",
                         "this space was not captioned, so its replay has no transcript")
    data = transcript.render(transcript.replay_cues(segments, manifest)).encode()
    return ranged_bytes(request, data, strong_etag(data), transcript.MEDIA_TYPE,
                        {"Cache-Control": cache.ended_playlist()})


routes = [Route("/replay/{space_id}/transcript.vtt", replay_transcript)]
