"""The player half of a simulated listener: follows a media playlist as an HLS player does.

LL-HLS: start PART-HOLD-BACK behind the live edge, then for each next part a blocking reload
(`_HLS_msn`/`_HLS_part`, rfc8216bis §6.2.5.2) together with the preload-hinted part
(§4.4.5.3), fetching any listed part it missed. Plain HLS: start three target durations behind
(§6.3.3), reload every target duration, fetch whole segments. Every arrival goes to the
`Playback` clock; stalls and first audio go to the run's `Tally`.

Playback starts once the start-up window (the media listed from the start position to the end
of the first playlist) is in hand, as a player that buffers its hold-back before playing does:
a slow request during start-up delays the first audio (counted in time to first audio) rather
than stalling a buffer of one part. (Behind nginx, a request for an object being filled waits
for the cache lock's 500 ms tick; with one part in hand that alone is a 0.18 s stall.)

Fetches only through its `MediaSource` (the listener: ticketed paths, error counting), so it
never sees tickets or sockets. Every wait is bounded by a count (MAX_POLLS) and the runner
cancels it at the end of the run.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from townhall.loadtest.delta import SKIP_DIRECTIVE, DeltaMismatch, may_ask_delta, merge_delta
from townhall.loadtest.metrics import Tally
from townhall.loadtest.playback import Playback
from townhall.loadtest.playlist import MediaPlaylist, MediaTimeline, Part, Span, parse_media
from townhall.loadtest.wire import Response

NOT_LIVE_POLL_S = 0.5  # a space not yet on air is asked again this often
ERROR_PAUSE_S = 0.25  # after a failed reload, before the next one
MAX_POLLS = 100_000  # not-live retries and recoveries, whatever the duration


class NotOnAir(Exception):
    """The stream could not be opened or followed within MAX_POLLS tries."""


class MediaSource(Protocol):
    async def media(self, what: str, uri: str, query: str = "") -> Response | None:
        """GET a URI relative to the media base; None on failure (counted by the source)."""

    def maybe_renew(self) -> None:
        """Called between requests: renew the ticket when it is time."""


def start_index(durations: list[float], hold_back: float) -> int:
    """Index of the first item to play so that at least `hold_back` seconds are held from it
    to the end (the whole list when it is shorter)."""
    acc = 0.0
    for j in range(len(durations) - 1, -1, -1):
        acc += durations[j]
        if acc >= hold_back - 1e-6:
            return j
    return 0


class Player:
    def __init__(self, source: MediaSource, tally: Tally, *, low_latency: bool,
                 preload: bool) -> None:
        self.source = source
        self.tally = tally
        self.low_latency = low_latency
        self.preload = preload
        self.joined_at: float | None = None  # when the first join request was sent
        self.ttfa: float | None = None
        self.playback: Playback | None = None
        self.timeline = MediaTimeline()
        self.media_uri = "media.m3u8"
        self.tier_playlist = "master.m3u8"  # standard.m3u8: the standard latency tier
        self._last: MediaPlaylist | None = None  # the newest full playlist (delta updates)
        self._polls = 0

    def _poll(self) -> None:
        """A wait without media (not on air yet, buffering to start, after an error): the
        ticket is renewed meanwhile, as the page renews whether or not it plays."""
        self._polls += 1
        if self._polls >= MAX_POLLS:
            raise NotOnAir
        self.source.maybe_renew()

    def _arrive(self, span: Span | None, arrival: float,
                window: list[tuple[Span, float]]) -> None:
        """Media in hand: played, or kept in the start-up `window` until playback starts."""
        if span is None:
            return
        if self.playback is None:
            window.append((span, arrival))
            return
        stall = self.playback.arrive(span.offset, span.duration, arrival, span.pdt)
        if stall is not None:
            self.tally.stall(stall.seconds, stall.at)

    def _start(self, window: list[tuple[Span, float]]) -> None:
        """Start playing the start-up window (media in order, with arrival times) once all
        of it is in hand: at the last arrival."""
        started = max(arrival for _, arrival in window)
        self.playback = Playback(started, window[0][0].offset)
        self.ttfa = started - (self.joined_at or started)
        self.tally.first_audio(self.ttfa)
        for span, _ in window:
            self.playback.arrive(span.offset, span.duration, started, span.pdt)

    async def _fetch(self, what: str, uri: str) -> float | None:
        """Fetch a part or segment: its arrival time, or None."""
        return None if await self.source.media(what, uri) is None else time.time()

    async def _playlist(self, query: str = "") -> MediaPlaylist | None:
        """A reload; a blocking one asks for a delta update (as hls.js does) when it holds a
        playlist to merge it into, and reloads in full when the merge is impossible."""
        delta = bool(query) and may_ask_delta(self._last)
        resp = await self.source.media("playlist", self.media_uri,
                                       f"{query}&{SKIP_DIRECTIVE}" if delta else query)
        if resp is None:
            return None
        try:
            pl = parse_media(resp.body.decode("utf-8", "replace"))
        except ValueError:
            self.tally.error("playlist:unparsable")
            return None
        if pl.skipped:
            try:
                assert self._last is not None
                pl = merge_delta(self._last, pl)
            except DeltaMismatch:
                self.tally.event("delta_mismatch")
                return await self._playlist()
        self._last = pl
        self.timeline.update(pl)
        return pl

    async def _open(self) -> MediaPlaylist:
        """Multivariant playlist (the tier's), media playlist and init section, waiting for
        the space to air."""
        while True:
            master = await self.source.media("master", self.tier_playlist)
            if master is not None:
                uris = [ln.strip() for ln in master.body.decode("utf-8", "replace").splitlines()
                        if ln.strip() and not ln.startswith("#")]
                if uris:
                    self.media_uri = uris[0]
                    pl = await self._playlist()
                    if pl is not None and await self.source.media("init", "init.mp4"):
                        return pl
            self._poll()
            await asyncio.sleep(NOT_LIVE_POLL_S)

    async def play(self) -> None:
        """Play until the stream ends (ENDLIST); raises NotOnAir, or the source's errors."""
        pl = await self._open()
        if self.low_latency and pl.low_latency:
            await self._follow_ll(pl)
        else:
            if self.low_latency and self.tier_playlist == "master.m3u8":
                self.tally.event("no_ll_tags")
            await self._follow_plain(pl)

    # --- LL-HLS ---
    async def _follow_ll(self, pl: MediaPlaylist) -> None:
        while not pl.parts and not pl.ended:  # on air, no part yet: wait for the first one
            self._poll()
            hint = pl.hint
            pl = await self._playlist(f"_HLS_msn={hint.msn}&_HLS_part={hint.index}"
                                      if hint else "") or await self._recover()
        first = start_index([p.duration for p in pl.parts], pl.part_hold_back or 0.0)
        have = await self._catch_up(pl, pl.parts[first:], None, None)
        while not pl.ended:
            self.source.maybe_renew()
            hint = pl.hint
            if hint is None:  # not expected from an LL origin: reload after a part's time
                self._poll()
                await asyncio.sleep(pl.part_target or ERROR_PAUSE_S)
                nxt, got = await self._playlist(), None
            else:
                nxt, got = await self._reload_with_hint(hint)
            pl = nxt or await self._recover()
            later = ([p for p in pl.parts if (p.msn, p.index) > have] if have else
                     pl.parts[start_index([p.duration for p in pl.parts],
                                          pl.part_hold_back or 0.0):])
            pos = (hint.msn, hint.index) if hint else None
            have = await self._catch_up(pl, later, pos, got) or have

    async def _reload_with_hint(self, hint: Part) -> tuple[MediaPlaylist | None, float | None]:
        """Blocking reload for the hinted part and (preload) the part itself, together."""
        query = f"_HLS_msn={hint.msn}&_HLS_part={hint.index}"
        if not self.preload:
            return await self._playlist(query), None
        hinted = asyncio.create_task(self._fetch("part", hint.uri))
        try:
            pl = await self._playlist(query)
        except BaseException:
            hinted.cancel()
            await asyncio.gather(hinted, return_exceptions=True)
            raise
        return pl, await hinted

    async def _recover(self) -> MediaPlaylist:
        """After a failed reload: pause, then a plain reload (resynchronises a bad hint)."""
        while True:
            self._poll()
            await asyncio.sleep(ERROR_PAUSE_S)
            pl = await self._playlist()
            if pl is not None:
                return pl

    async def _catch_up(self, pl: MediaPlaylist, parts: list[Part],
                        hinted: tuple[int, int] | None,
                        hinted_arrival: float | None) -> tuple[int, int] | None:
        """Fetch (or take the hinted arrival of) each of `parts` in order and play it;
        returns the position of the last one in hand."""
        have: tuple[int, int] | None = None
        window: list[tuple[Span, float]] = []  # the start-up window, before playback starts
        for part in parts:
            pos = (part.msn, part.index)
            arrival = hinted_arrival if pos == hinted and hinted_arrival is not None else \
                await self._fetch("part", part.uri)
            if arrival is not None:
                self._arrive(self.timeline.part(pl, part), arrival, window)
                have = pos
        if window:
            self._start(window)
        return have

    # --- plain HLS ---
    async def _follow_plain(self, pl: MediaPlaylist) -> None:
        hold_back = 3 * pl.target_duration
        while not pl.ended and sum(s.duration or 0 for s in pl.complete_segments) < hold_back:
            self._poll()  # a player waits for enough media to start that far behind the edge
            await asyncio.sleep(max(0.5, pl.target_duration))
            pl = await self._playlist() or pl
        segs = pl.complete_segments
        if not segs:
            return
        have = segs[start_index([s.duration or 0 for s in segs], hold_back)].msn - 1
        polled = time.time()
        while True:
            window: list[tuple[Span, float]] = []  # the start-up window (first pass only)
            for seg in [s for s in segs if s.msn > have and s.uri is not None]:
                assert seg.uri is not None
                arrival = await self._fetch("segment", seg.uri)
                if arrival is not None:
                    self._arrive(self.timeline.segment(seg.msn), arrival, window)
                    have = seg.msn
            if window:
                self._start(window)
            if pl.ended:
                return
            self.source.maybe_renew()
            await asyncio.sleep(max(0.0, polled + max(0.5, pl.target_duration) - time.time()))
            polled = time.time()
            pl = await self._playlist() or pl
            segs = pl.complete_segments
