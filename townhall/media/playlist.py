"""Renders HLS playlists (rfc8216bis) as text: LL-HLS media, multivariant, and VOD replay.

Sans-IO: takes a description of segments and parts, returns the playlist. Never decides
what is published; the live window does that. URIs are relative to the playlist's URL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

VERSION = 6  # EXT-X-MAP in a media playlist needs version 6 (rfc8216bis §8.2)
DELTA_VERSION = 9  # rfc8216bis §8: a playlist with EXT-X-SKIP needs version 9
SKIP_TARGET_DURATIONS = 6  # §4.4.3.8: CAN-SKIP-UNTIL is at least six target durations
INIT_URI = "init.mp4"


def segment_uri(msn: int) -> str:
    return f"seg/{msn}.m4s"


def part_uri(msn: int, index: int) -> str:
    return f"part/{msn}.{index}.m4s"


@dataclass
class PlaylistSegment:
    msn: int
    program_date_time: float
    discontinuity: bool
    part_durations: list[float] = field(default_factory=list)
    duration: float | None = None  # None while the segment is still being written

    @property
    def complete(self) -> bool:
        return self.duration is not None


@dataclass(frozen=True)
class LowLatency:
    part_target: float
    part_hold_back: float
    parts_window: float  # list parts of segments that start within this many seconds of the end


def target_duration(segment_target: float) -> int:
    # §4.4.3.1: every EXTINF rounded to the nearest integer must not exceed it.
    return max(1, math.floor(segment_target + 0.5))


def format_pdt(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _num(seconds: float) -> str:
    return f"{seconds:.5f}".rstrip("0").rstrip(".")


def skip_until(segment_target: float) -> float:
    """The Skip Boundary announced in CAN-SKIP-UNTIL, in seconds."""
    return float(SKIP_TARGET_DURATIONS * target_duration(segment_target))


def skippable(segments: Sequence[PlaylistSegment], boundary: float) -> int:
    """How many leading segments a delta update replaces with EXT-X-SKIP: complete ones that
    end at least `boundary` seconds before the end of the playlist (§6.2.5.1: only segments
    older than the Skip Boundary may be skipped)."""
    total = sum(s.duration or sum(s.part_durations) for s in segments)
    elapsed, n = 0.0, 0
    for s in segments:
        if s.duration is None:
            break
        elapsed += s.duration
        if total - elapsed < boundary - 1e-9:
            break
        n += 1
    return n


def render_media(segments: Sequence[PlaylistSegment], *, segment_target: float,
                 discontinuity_sequence: int, ended: bool, low_latency: LowLatency | None,
                 query: str = "", vod: bool = False, delta: bool = False) -> str:
    """A media playlist; `query` (e.g. "?t=ticket") is appended to every URI. A live LL
    playlist announces delta updates (CAN-SKIP-UNTIL); `delta` renders one (§6.2.5.1), the
    segments older than the Skip Boundary replaced by EXT-X-SKIP."""
    q = query
    live_ll = low_latency is not None and not ended
    skipped = skippable(segments, skip_until(segment_target)) if delta and live_ll else 0
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{DELTA_VERSION if skipped else VERSION}",
             f"#EXT-X-TARGETDURATION:{target_duration(segment_target)}"]
    if vod:
        lines.append("#EXT-X-PLAYLIST-TYPE:VOD")
    if low_latency and not ended:
        lines.append(f"#EXT-X-PART-INF:PART-TARGET={_num(low_latency.part_target)}")
        lines.append("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,"
                     f"CAN-SKIP-UNTIL={_num(skip_until(segment_target))},"
                     f"PART-HOLD-BACK={_num(low_latency.part_hold_back)}")
    first_msn = segments[0].msn if segments else 0
    lines.append(f"#EXT-X-MEDIA-SEQUENCE:{first_msn}")
    if discontinuity_sequence:
        lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_sequence}")
    lines.append(f'#EXT-X-MAP:URI="{INIT_URI}{q}"')
    if skipped:
        lines.append(f"#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}")

    parts_from = math.inf
    if low_latency and not ended and segments:
        end_time = sum(s.duration or sum(s.part_durations) for s in segments)
        elapsed = 0.0
        for s in segments:
            if end_time - elapsed <= low_latency.parts_window:
                parts_from = s.msn
                break
            elapsed += s.duration or sum(s.part_durations)

    for s in segments[skipped:]:
        if s.duration is None and not live_ll:
            continue  # without parts, a segment being written is not listed at all
        if s.discontinuity:
            # kept while listed, so a segment's discontinuity number never changes (§6.2.2)
            lines.append("#EXT-X-DISCONTINUITY")
        # a date on every segment: measured, that costs ~16 gzipped bytes a reload more than
        # every third, and players (the load tester too) place segments after a hole by them
        lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{format_pdt(s.program_date_time)}")
        if s.msn >= parts_from:
            for i, d in enumerate(s.part_durations):
                lines.append(f'#EXT-X-PART:DURATION={_num(d)},URI="{part_uri(s.msn, i)}{q}",'
                             "INDEPENDENT=YES")
        if s.duration is not None:
            lines.append(f"#EXTINF:{_num(s.duration)},")
            lines.append(f"{segment_uri(s.msn)}{q}")
    if ended:
        lines.append("#EXT-X-ENDLIST")
    elif low_latency and segments:
        last = segments[-1]
        nxt = (last.msn + 1, 0) if last.complete else (last.msn, len(last.part_durations))
        lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{part_uri(*nxt)}{q}"')
    return "\n".join(lines) + "\n"


def render_multivariant(*, media_uri: str, bandwidth: int, codecs: str,
                        subtitles: str | None = None, subtitles_group: str = "subs") -> str:
    """One audio-only variant; players that ignore LL-HLS still follow it as plain HLS.
    `subtitles`: an EXT-X-MEDIA line of TYPE=SUBTITLES in `subtitles_group`, which the
    variant then names (rfc8216bis §4.4.6.2: SUBTITLES= matches the rendition's GROUP-ID)."""
    media = f"{subtitles}\n" if subtitles else ""
    subs = f',SUBTITLES="{subtitles_group}"' if subtitles else ""
    return ("#EXTM3U\n"
            f"#EXT-X-VERSION:{VERSION}\n"
            "#EXT-X-INDEPENDENT-SEGMENTS\n"
            f"{media}"
            f'#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},CODECS="{codecs}"{subs}\n'
            f"{media_uri}\n")
