"""Listener routes: LL-HLS live playlists and parts from memory; the replay from the store.

The live routes read only the in-memory live window (no database, no shared lock), and hold
blocking requests on the program's change event. Answers carry the cache headers that let an
edge collapse and keep serving them.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from townhall.admission.tickets import renewal_margin
from townhall.captions.captioner import Captioner
from townhall.captions.timeline import CueTimeline
from townhall.captions.webvtt import SUBTITLES_GROUP, VTT_MEDIA_TYPE, subtitles_rendition
from townhall.delivery import cache
from townhall.delivery.blocking import (
    MSN_RE,
    BadBlockingRequest,
    Position,
    Verdict,
    directive_query,
    parse_directives,
    parse_skip,
    part_verdict,
    playlist_verdict,
)
from townhall.delivery.encoding import accepts_gzip
from townhall.delivery.window import LiveWindow
from townhall.live.errors import SpaceError
from townhall.live.joins.player_tickets import LapsedTickets, entry_path, grace_check
from townhall.live.program.program import Program
from townhall.live.registry.spaces import LiveSpace, Spaces
from townhall.media.playlist import (
    PlaylistSegment,
    render_media,
    render_multivariant,
    target_duration,
)
from townhall.recording.manifest import RecordingManifest
from townhall.store.base import RecordingStore
from townhall.web.client_ip import client_address
from townhall.web.errors import error_response
from townhall.web.public_record import withdrawn_replay
from townhall.web.ranged import hex_etag, ranged_bytes, strong_etag

M3U8 = "application/vnd.apple.mpegurl"
# live media playlists: the other type rfc8216bis §4 names, 16 bytes shorter on every reload
MEDIA_M3U8 = "audio/mpegurl"
Handler = Callable[[Request], Awaitable[Response]]
SID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SUBTITLES_WAIT_S = 0.1  # how often a request for a still empty subtitles playlist looks again


def _spaces(request: Request) -> Spaces:
    spaces: Spaces = request.app.state.spaces
    return spaces


def _live(request: Request) -> tuple[LiveSpace, Program]:
    space_id = request.path_params["space_id"]
    # the ticket is checked first: a forged or missing one costs no lookup at all (a lapsed
    # one let through by `_renewing` was checked genuine, its seat held)
    if not request.scope.get(LAPSED):
        request.app.state.admissions.check_media(space_id, request.path_params.get("ticket"),
                                                 time.time())
    space = _spaces(request).get(space_id)
    if space.program is None:
        state = space.record.phase.value
        raise SpaceError(404, "not_live", f"the space is {state} and has not published audio")
    return space, space.program


def _position(program: Program) -> Position:
    w = program.window
    return Position(w.last_complete_msn, w.next_part(), w.parts_per_segment, w.ended)


def _block_timeout(program: Program) -> float:
    factor = program.settings.delivery.block_reload_target_durations
    return factor * target_duration(program.window.segment_target)


def _count_listener(request: Request, space: LiveSpace) -> None:
    sid = request.query_params.get("sid", "")
    key = sid if SID_RE.match(sid) else (request.client.host if request.client else "?")
    space.listeners.seen(key, time.time())


async def multivariant(request: Request) -> Response:
    return _multivariant(request, "media.m3u8")


async def standard_multivariant(request: Request) -> Response:
    """The standard latency tier's entry point: one variant, whole segments only."""
    return _multivariant(request, "segments.m3u8")


def _multivariant(request: Request, media: str) -> Response:
    space, program = _live(request)
    sid = request.query_params.get("sid", "")
    media_uri = media + (f"?sid={sid}" if SID_RE.match(sid) else "")
    track = program.encoder.track
    subtitles = None
    if _captions(request).timeline(space.record.id) is not None:
        subtitles = subtitles_rendition("subs.m3u8",
                                        program.settings.captioning.captions_language or "und")
    body = render_multivariant(media_uri=media_uri, bandwidth=int(track.bitrate * 1.1),
                               codecs=track.codecs, subtitles=subtitles,
                               subtitles_group=SUBTITLES_GROUP)
    return Response(body, media_type=M3U8, headers={"Cache-Control": cache.status_document()})


async def media_playlist(request: Request) -> Response:
    space, program = _live(request)
    if not program.settings.admission.require_tickets:
        _count_listener(request, space)  # with tickets, seats are the count
    try:
        q = directive_query(request.scope["query_string"].decode("latin-1"))
        msn, part = parse_directives(q.get("_HLS_msn"), q.get("_HLS_part"))
        delta = parse_skip(q.get("_HLS_skip"))
    except BadBlockingRequest as exc:
        return error_response(400, "bad_blocking_request", str(exc))
    window = program.window
    if msn is not None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _block_timeout(program)
        while True:
            verdict = playlist_verdict(_position(program), msn, part)
            if verdict is Verdict.READY:
                break
            if verdict is Verdict.TOO_FAR:
                # rfc8216bis §6.2.5.2: more than two segments ahead of the playlist is a 400
                return error_response(400, "msn_too_far_ahead",
                                      f"_HLS_msn={msn} is more than two segments ahead of "
                                      f"the last segment ({window.last_complete_msn})")
            remaining = deadline - loop.time()
            if remaining <= 0:
                # §6.2.5.2: 503 once blocked for three target durations
                return error_response(503, "not_published_in_time",
                                      "the requested part was not published in time",
                                      {"Retry-After": "1"})
            await program.wait_change(remaining)
        control = (cache.ended_playlist() if window.ended
                   else cache.blocking_playlist(window.segment_target))
    else:
        control = cache.ended_playlist() if window.ended else cache.live_playlist(
            window.part_target)
    return _playlist(request, window, control, delta=delta)


def _playlist(request: Request, window: LiveWindow, control: str, *, delta: bool = False,
              standard: bool = False) -> Response:
    """A live playlist, gzipped when the client takes it: compressed once per publication by
    the window, and edges cache each form (Vary)."""
    gzipped = accepts_gzip(request.headers.get("accept-encoding"))
    headers = {"Cache-Control": control, "Vary": "Accept-Encoding"}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return Response(window.render_bytes(delta=delta, gzipped=gzipped, standard=standard),
                    media_type=MEDIA_M3U8, headers=headers)


async def standard_playlist(request: Request) -> Response:
    """The standard latency tier: whole segments only, no LL-HLS tags, plain reloads."""
    space, program = _live(request)
    if not program.settings.admission.require_tickets:
        _count_listener(request, space)
    window = program.window
    control = cache.ended_playlist() if window.ended else cache.standard_playlist()
    return _playlist(request, window, control, standard=True)


def _captions(request: Request) -> Captioner:
    captioner: Captioner = request.app.state.captioner
    return captioner


def _timeline(request: Request, space: LiveSpace) -> CueTimeline:
    timeline = _captions(request).timeline(space.record.id)
    if timeline is None:
        raise SpaceError(404, "no_captions", "this space is not captioned now")
    return timeline


async def subtitles_playlist(request: Request) -> Response:
    """The WebVTT rendition's playlist (captions/timeline.py): whole segments, published a
    few seconds behind the audio, as short-lived as a live playlist.

    Never answered empty while live: a player that joins as the space goes on air may ask
    before the first subtitle segment is published, and some players (Shaka 5) never ask an
    empty live playlist again. The request waits for the first segment instead, as long as a
    blocking playlist reload may be held (what edges allow an origin): players join once
    two audio segments are out, and the first subtitle segment is out `captions_hold_s`
    after its audio at the latest."""
    space, program = _live(request)
    timeline = _timeline(request, space)
    window = program.window
    if timeline.last_msn is None and not timeline.ended:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _block_timeout(program)
        while timeline.last_msn is None and not timeline.ended and loop.time() < deadline:
            await asyncio.sleep(SUBTITLES_WAIT_S)
            timeline = _timeline(request, space)
    control = (cache.ended_playlist() if timeline.ended and window.ended
               else cache.standard_playlist())
    body = timeline.playlist(window.segment_target)
    return Response(body, media_type=MEDIA_M3U8, headers={"Cache-Control": control})


async def subtitle_segment(request: Request) -> Response:
    """A published WebVTT segment: immutable, like the audio segment it covers."""
    space, _ = _live(request)
    data = _timeline(request, space).segment(_int_param(request, "msn"))
    if data is None:
        return error_response(404, "segment_not_available",
                              "that subtitle segment is not published (too old or not yet "
                              "captioned)")
    return Response(data, media_type=VTT_MEDIA_TYPE, headers={"Cache-Control": cache.LIVE_MEDIA})


async def init_section(request: Request) -> Response:
    _, program = _live(request)
    return Response(program.window.init, media_type="audio/mp4",
                    headers={"Cache-Control": cache.LIVE_MEDIA})


def _int_param(request: Request, name: str) -> int:
    """A number in a media path, in its one spelling (`7`, never `007` or `+7`): each other
    spelling would be one more cache key at the edge for the same object."""
    value = request.path_params[name]
    if not MSN_RE.fullmatch(value):
        raise SpaceError(400, "non_canonical_path",
                         f"{name} must be a decimal integer without sign or leading zeros")
    return int(value)


async def segment(request: Request) -> Response:
    _, program = _live(request)
    data = program.window.segment(_int_param(request, "msn"))
    if data is None:
        return error_response(404, "segment_not_available",
                              "that segment is not in the live window (too old or not yet "
                              "complete)")
    return Response(data, media_type="audio/mp4", headers={"Cache-Control": cache.LIVE_MEDIA})


async def part(request: Request) -> Response:
    _, program = _live(request)
    msn, index = _int_param(request, "msn"), _int_param(request, "index")
    window = program.window
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _block_timeout(program)
    while True:
        verdict = part_verdict(_position(program), msn, index, window.has_part(msn, index))
        if verdict is Verdict.READY:
            data = window.part(msn, index)
            assert data is not None
            return Response(data, media_type="audio/mp4",
                            headers={"Cache-Control": cache.LIVE_MEDIA})
        remaining = deadline - loop.time()
        if verdict is Verdict.GONE or remaining <= 0:
            status = 404 if verdict is Verdict.GONE else 503
            return error_response(status, "part_not_available",
                                  f"part {msn}.{index} is not in the live window",
                                  {"Retry-After": "1"} if status == 503 else None)
        await program.wait_change(remaining)


# --- replay: the recording, from the store (files here, or the cluster's database) ---


async def sealed_replay(request: Request) -> tuple[RecordingStore, RecordingManifest]:
    """The sealed manifest (cached: it never changes once sealed) and where its bytes are.
    Whether it was withdrawn is asked each time (another origin may have withdrawn it; the
    answer is kept once it is yes)."""
    spaces = _spaces(request)
    space = spaces.get(request.path_params["space_id"])
    sid = space.record.id
    await withdrawn_replay(request, sid)
    cached: dict[str, RecordingManifest] = request.app.state.replays
    manifest = cached.get(sid)
    if manifest is None:
        if not space.record.has_replay:  # another origin of a cluster may have ended it
            await asyncio.to_thread(spaces.recheck, space)
        if not space.record.has_replay:
            raise SpaceError(404, "no_replay", "the replay is published when the space ends")
        manifest = await asyncio.to_thread(spaces.recordings.manifest, sid)
        if manifest is None or not manifest.complete:
            raise SpaceError(404, "no_replay", "the recording of this space is missing")
        cached[sid] = manifest
    return spaces.recordings, manifest


def _bytes_or_missing(data: bytes | None, what: str) -> bytes:
    if data is None:
        raise SpaceError(404, "no_replay", f"the recording's {what} is missing")
    return data


@dataclass(frozen=True)
class ReplayPlaylist:
    """A sealed replay's playlist, rendered and gzip-compressed once per origin (it never
    changes), with a strong ETag for each form."""

    plain: bytes
    gzipped: bytes

    @classmethod
    def render(cls, manifest: RecordingManifest) -> ReplayPlaylist:
        segs = [PlaylistSegment(e.msn, e.program_date_time, e.discontinuity, [], e.duration)
                for e in manifest.segments]
        longest = max((e.duration for e in manifest.segments), default=1.0)
        body = render_media(segs, segment_target=longest, discontinuity_sequence=0,
                            ended=True, low_latency=None, vod=True).encode()
        # mtime=0: the same bytes (and ETag) on every origin, as the live window does
        return cls(body, gzip.compress(body, compresslevel=9, mtime=0))


async def replay_playlist(request: Request) -> Response:
    _, manifest = await sealed_replay(request)
    rendered: dict[str, ReplayPlaylist] = request.app.state.replay_playlists
    playlist = rendered.get(manifest.space_id)
    if playlist is None:
        playlist = await asyncio.to_thread(ReplayPlaylist.render, manifest)
        rendered[manifest.space_id] = playlist
    headers = {"Cache-Control": cache.IMMUTABLE, "Vary": "Accept-Encoding"}
    if accepts_gzip(request.headers.get("accept-encoding")):
        headers["Content-Encoding"] = "gzip"
        return ranged_bytes(request, playlist.gzipped, strong_etag(playlist.gzipped), M3U8,
                            headers)
    return ranged_bytes(request, playlist.plain, strong_etag(playlist.plain), M3U8, headers)


async def replay_init(request: Request) -> Response:
    store, manifest = await sealed_replay(request)
    data = await asyncio.to_thread(store.init, manifest.space_id)
    return ranged_bytes(request, _bytes_or_missing(data, "init section"),
                        hex_etag(manifest.init_sha256), "audio/mp4",
                        {"Cache-Control": cache.IMMUTABLE})


async def replay_segment(request: Request) -> Response:
    store, manifest = await sealed_replay(request)
    msn = _int_param(request, "msn")
    for entry in manifest.segments:
        if entry.msn == msn:
            data = await asyncio.to_thread(store.segment, manifest.space_id, entry)
            return ranged_bytes(request, _bytes_or_missing(data, f"segment {msn}"),
                                hex_etag(entry.sha256), "audio/mp4",
                                {"Cache-Control": cache.IMMUTABLE})
    return error_response(404, "segment_not_found", f"the recording has no segment {msn}")


async def replay_manifest(request: Request) -> Response:
    _, manifest = await sealed_replay(request)
    data = json.dumps(manifest.to_dict()).encode()
    return ranged_bytes(request, data, strong_etag(data), "application/json",
                        {"Cache-Control": cache.IMMUTABLE})


LAPSED = "townhall.lapsed_ticket"  # scope key: this request's lapsed ticket was let through


def _renewing(fn: Handler) -> Handler:
    """A ticketed media route that serves an expired ticket whose seat is held at its own URL
    (the seat renewed once per ticket lifetime: live/joins/player_tickets.py LapsedTickets),
    so a player straight at an origin never sees a redirect; 403 seat_gone once it is gone."""
    async def handler(request: Request) -> Response:
        try:
            return await fn(request)
        except SpaceError as exc:
            if exc.code != "ticket_expired":
                raise
        space = _spaces(request).get(request.path_params["space_id"])
        lapsed: LapsedTickets = request.app.state.lapsed_tickets
        await lapsed.admit(space, request.path_params["ticket"], time.time())
        request.scope[LAPSED] = True
        return await fn(request)
    return handler


async def renewal(request: Request) -> Response:
    """`/live/ID/t/TICKET/renewal`: the edge's renewal check for an expired but genuine
    ticket (nginx `auth_request`, cached per ticket for `X-Accel-Expires`): 204 with the
    ticket the edge fetches with (`X-Townhall-Ticket`) while the seat is held, 403 once it is
    gone (cached as long: the seat does not come back). Never seen by players: the edge
    refuses this path from outside (live/joins/player_tickets.py grace_check)."""
    adm = request.app.state.admissions
    try:
        space = _spaces(request).get(request.path_params["space_id"])
        upstream, answer = await grace_check(adm, request.app.state.grant_admission, space,
                                             request.path_params["ticket"], time.time())
    except SpaceError as exc:
        if exc.status not in (403, 404):  # a space gone is a seat gone (auth_request: 403)
            raise
        hold = renewal_margin(adm.settings.admission.seat_ttl_s,
                              adm.settings.admission.ticket_grace_s)
        return error_response(403, exc.code, exc.message, {
            "Cache-Control": "no-store", "X-Accel-Expires": str(max(1, int(hold)))})
    return Response(status_code=204, headers={
        "Cache-Control": "no-store", "X-Townhall-Ticket": upstream,
        "X-Accel-Expires": str(math.ceil(answer.reuse_s - 1e-6))})


async def entry(request: Request) -> Response:
    """`/live/ID/master.m3u8`: the playlist itself without tickets; with them, a join and a
    302 to the ticketed playlist (live/joins/player_tickets.py)."""
    if not _spaces(request).settings.admission.require_tickets:
        return await multivariant(request)
    space = _spaces(request).get(request.path_params["space_id"])
    status, body, headers = await entry_path(
        request.app.state.admissions, space,
        client_address(request.scope, request.app.state.trusted), time.time())
    if status == 302:
        return Response(status_code=302, headers={**headers, "Cache-Control": "no-store"})
    return error_response(status, body["error"], body["detail"], headers)


LIVE_ROUTES = [
    ("master.m3u8", multivariant),
    ("media.m3u8", media_playlist),
    ("standard.m3u8", standard_multivariant),
    ("segments.m3u8", standard_playlist),
    ("init.mp4", init_section),
    ("seg/{msn}.m4s", segment),
    ("part/{msn}.{index}.m4s", part),
    ("subs.m3u8", subtitles_playlist),
    ("vtt/{msn}.vtt", subtitle_segment),
]

routes = [
    # with a ticket (the default): /live/<space>/t/<seat>.<expires>.<hash>/...
    *[Route(f"/live/{{space_id}}/t/{{ticket}}/{tail}", _renewing(fn))
      for tail, fn in LIVE_ROUTES],
    # the edge's renewal check for an expired but genuine ticket (never a player's URL)
    Route("/live/{space_id}/t/{ticket}/renewal", renewal),
    # the entry URL: a join and a redirect to the above (or the playlist without tickets)
    Route("/live/{space_id}/master.m3u8", entry),
    # without one: answered only when tickets are switched off (require_tickets=False)
    *[Route(f"/live/{{space_id}}/{tail}", fn) for tail, fn in LIVE_ROUTES[1:]],
    Route("/replay/{space_id}/media.m3u8", replay_playlist),
    Route("/replay/{space_id}/init.mp4", replay_init),
    Route("/replay/{space_id}/seg/{msn}.m4s", replay_segment),
    Route("/replay/{space_id}/manifest.json", replay_manifest),
    # /replay/ID.m4a and clips: townhall/web/signed_replay.py (with Content Credentials)
]
