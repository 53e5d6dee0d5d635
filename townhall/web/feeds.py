"""Podcast feeds: `/feeds/all.xml` (every space) and `/feeds/OWNER.xml` (the spaces one
hosting API key created, by its public id; `admin` for the operator's).

Edge over reach/podcast.py. A feed is rendered at most once per `feed_cache_s` per origin and
answered with a strong ETag (its SHA-256) and Last-Modified (its newest item), so podcast apps
poll it with If-None-Match / If-Modified-Since and get 304, and an edge may keep it for
`feed_cache_s`. A replay's enclosure length is the signed `.m4a`'s true size: the feed builds
that file once per origin if no one downloaded it yet (web/signed_replay.py). A withdrawn
replay (its record loses `has_replay`) leaves the feed. A replay whose space was captioned
names its transcript (`podcast:transcript`, web/feeds_transcript.py); one that never was names
none. Never on the listener path.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from townhall.live.errors import SpaceError
from townhall.live.registry.hosting import Hosting
from townhall.live.registry.spaces import LiveSpace, Spaces
from townhall.reach import podcast
from townhall.recording.manifest import RecordingManifest
from townhall.space.lifecycle import Phase
from townhall.store.reach import ReachStore
from townhall.web.errors import error_response
from townhall.web.public_record import withdrawn_replay
from townhall.web.signed_replay import signed_download

OWNER_RE = re.compile(r"^(all|admin|[0-9a-f]{8})$")  # API key ids: secrets.token_hex(4)
MEDIA_TYPE = "application/rss+xml; charset=utf-8"


@dataclass(frozen=True)
class RenderedFeed:
    body: bytes
    etag: str
    last_modified: float
    at: float  # when it was rendered (monotonic)


def _spaces(request: Request) -> Spaces:
    spaces: Spaces = request.app.state.spaces
    return spaces


async def _manifest(request: Request, space: LiveSpace) -> RecordingManifest | None:
    """The sealed manifest of a published, not withdrawn replay; None otherwise."""
    sid = space.record.id
    if not space.record.has_replay:
        return None
    try:
        await withdrawn_replay(request, sid)
    except SpaceError:
        return None
    cached: dict[str, RecordingManifest] = request.app.state.replays
    manifest = cached.get(sid)
    if manifest is None:
        manifest = await asyncio.to_thread(_spaces(request).recordings.manifest, sid)
        if manifest is None or not manifest.complete or not manifest.segments:
            return None
        cached[sid] = manifest
    return manifest


async def _episode(request: Request, space: LiveSpace) -> podcast.Episode | None:
    manifest = await _manifest(request, space)
    if manifest is None:
        return None
    spaces = _spaces(request)
    _path, size, _etag = await signed_download(request, spaces.recordings, manifest)
    r, base = space.record, spaces.settings.listen.base_url
    reach: ReachStore = request.app.state.stores.reach
    transcribed = await asyncio.to_thread(reach.has_transcript, r.id)
    return podcast.Episode(
        space_id=r.id, title=r.title, host=r.host, page_url=f"{base}/spaces/{r.id}",
        enclosure_url=f"{base}/replay/{r.id}.m4a", length=size,
        duration_s=manifest.duration, published=r.ended_at or r.created_at,
        transcript_url=f"{base}/replay/{r.id}/transcript.vtt" if transcribed else None)


def _live_item(space: LiveSpace, base: str, expected_s: float) -> podcast.LiveItem | None:
    r = space.record
    if r.phase is Phase.ENDED:
        return None  # its replay, once published, is an episode
    status = "live" if r.phase is Phase.LIVE else "pending"
    start = (r.actual_start if status == "live" else None) or r.scheduled_start or r.created_at
    return podcast.LiveItem(
        space_id=r.id, title=r.title, host=r.host, page_url=f"{base}/spaces/{r.id}",
        stream_url=f"{base}/live/{r.id}/master.m3u8", status=status, start=start,
        end=start + expected_s)


async def _render(request: Request, owner: str) -> RenderedFeed:
    spaces = _spaces(request)
    s = spaces.settings
    hosting: Hosting = request.app.state.hosting
    everyone = list(spaces.all())
    if owner != "all":  # owner_of may read the store (a space made on another origin)
        owners = await asyncio.to_thread(
            lambda: {sp.record.id: hosting.owner_of(sp.record.id) for sp in everyone})
        everyone = [sp for sp in everyone if owners[sp.record.id] == owner]
    chosen = everyone
    chosen.sort(key=lambda sp: sp.record.ended_at or sp.record.created_at, reverse=True)
    chosen = chosen[: s.reach.feed_max_items]
    live = [i for sp in chosen
            if (i := _live_item(sp, s.listen.base_url, EXPECTED_S)) is not None]
    live.sort(key=lambda i: (i.start, i.space_id))
    episodes = [e for sp in chosen if (e := await _episode(request, sp)) is not None]
    times = [e.published for e in episodes] + [
        max(sp.record.created_at, sp.record.actual_start or 0.0) for sp in chosen]
    modified = float(int(max(times, default=0.0)))
    title = s.reach.feed_title if owner == "all" else f"{s.reach.feed_title}: {owner}"
    channel = podcast.Channel(
        title=title, link=s.listen.base_url, feed_url=f"{s.listen.base_url}/feeds/{owner}.xml",
        description=f"Live conversations on {s.reach.feed_title}, and their unedited recordings.",
        author=s.reach.feed_title)
    body = podcast.render(channel, episodes, live, built=modified)
    return RenderedFeed(body, f'"{hashlib.sha256(body).hexdigest()[:32]}"', modified,
                        time.monotonic())


EXPECTED_S = 3600.0  # a live item's end when the space has not ended: an hour after start


def _not_modified(request: Request, feed: RenderedFeed) -> bool:
    # rfc9110 §13.1.2: If-None-Match wins over If-Modified-Since when both are sent
    inm = request.headers.get("if-none-match")
    if inm is not None:
        return feed.etag in [t.strip().removeprefix("W/") for t in inm.split(",")] or \
            inm.strip() == "*"
    ims = request.headers.get("if-modified-since")
    if ims:
        try:
            return parsedate_to_datetime(ims).timestamp() >= feed.last_modified
        except (TypeError, ValueError):
            return False
    return False


async def feed(request: Request) -> Response:
    owner = request.path_params["owner"]
    if not OWNER_RE.match(owner):
        return error_response(404, "no_feed", "feeds are /feeds/all.xml or /feeds/KEY_ID.xml "
                                              "(a hosting API key's id)")
    s = _spaces(request).settings
    kept: dict[str, RenderedFeed] = request.app.state.feeds
    rendered = kept.get(owner)
    if rendered is None or time.monotonic() - rendered.at > s.reach.feed_cache_s:
        if len(kept) >= FEEDS_KEPT:
            kept.clear()  # bounded: owners are few; a flood of ids costs a re-render
        # one render however many ask at the moment the kept one goes stale
        task = _rendering.get(owner)
        if task is None:
            task = asyncio.get_running_loop().create_task(_render(request, owner))
            _rendering[owner] = task
            task.add_done_callback(lambda _t: _rendering.pop(owner, None))
        rendered = kept[owner] = await asyncio.shield(task)
    max_age = max(1, int(s.reach.feed_cache_s))
    headers = {"ETag": rendered.etag,
               "Last-Modified": podcast.rfc822(rendered.last_modified),
               "Cache-Control": f"public, max-age={max_age}, "
                                "stale-while-revalidate=60, stale-if-error=86400"}
    if _not_modified(request, rendered):
        return Response(status_code=304, headers=headers)
    return Response(rendered.body, media_type=MEDIA_TYPE, headers=headers)


FEEDS_KEPT = 1000
_rendering: dict[str, asyncio.Task[RenderedFeed]] = {}
routes = [Route("/feeds/{owner}.xml", feed)]
