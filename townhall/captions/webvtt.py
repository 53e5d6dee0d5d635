"""WebVTT caption segments and their HLS subtitles playlist, as text (sans-IO).

Core: takes cues and segment boundaries on the program's decode timeline (seconds since the
audio track's decode time 0), returns text. Never decides when a segment is published (the
cue timeline does) and never reads a clock.

Each subtitle segment covers exactly the audio segment of the same media sequence number
(rfc8216bis §3.1.4: WebVTT segments carry `X-TIMESTAMP-MAP`, which maps a cue time to the
audio's media timeline). The map here says: the segment's audio starts at decode time
`start` (MPEGTS, 90 kHz, rfc8216bis §3.5) and that instant is local cue time 0; cue times in
the segment are relative to its start. A cue that spans a segment boundary is repeated in each
segment it overlaps, cut to it (what Apple's segmenter does), so a player joining mid-cue
still shows it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from townhall.media.playlist import format_pdt, target_duration

MPEGTS_HZ = 90_000  # rfc8216bis §3.5: X-TIMESTAMP-MAP's MPEGTS is a 90 kHz clock
MPEGTS_WRAP = 1 << 33  # an MPEG-2 PTS has 33 bits
SUBTITLES_GROUP = "subs"
VTT_MEDIA_TYPE = "text/vtt"
SETTLED_NOTE = "NOTE settled"  # how far the recogniser had got (render_segment)
_TIME_RE = re.compile(r"^(?:(\d+):)?(\d{2}):(\d{2})\.(\d{3})$")


def vtt_uri(msn: int) -> str:
    return f"vtt/{msn}.vtt"


@dataclass(frozen=True)
class Cue:
    """One caption: `start`/`end` in seconds on the decode timeline, `text` one line."""

    start: float
    end: float
    text: str

    def __post_init__(self) -> None:
        if not self.end > self.start >= 0:
            raise ValueError(f"a cue needs 0 <= start < end, got {self.start}..{self.end}")
        if "-->" in self.text or "\n\n" in self.text:
            raise ValueError("cue text may not hold '-->' or a blank line (WebVTT §4.1)")


def format_time(seconds: float) -> str:
    """WebVTT timestamp `hh:mm:ss.ttt` (WebVTT §4.2: hours are at least two digits)."""
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def parse_time(text: str) -> float:
    match = _TIME_RE.match(text)
    if match is None:
        raise ValueError(f"not a WebVTT timestamp: {text!r}")
    h, m, s, ms = (int(g or 0) for g in match.groups())
    if m > 59 or s > 59:
        raise ValueError(f"minutes and seconds must be below 60: {text!r}")
    return h * 3600 + m * 60 + s + ms / 1000


def escape(text: str) -> str:
    """Cue text as WebVTT reads it: `&`, `<` and `>` escaped (WebVTT §4.2.2)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mpegts(start: float) -> int:
    return round(start * MPEGTS_HZ) % MPEGTS_WRAP


def render_segment(cues: Sequence[Cue], start: float, end: float,
                   settled: float | None = None) -> str:
    """The WebVTT file of one subtitle segment covering [start, end) of the decode timeline:
    every cue overlapping it, cut to it, times relative to `start`. `settled`: how far the
    recogniser had handled the audio when it was published, as a comment (`NOTE settled S`,
    decode seconds; players skip NOTE blocks, W3C WebVTT §4.1): an origin taking the program
    over recognises the audio after it again."""
    lines = ["WEBVTT", f"X-TIMESTAMP-MAP=MPEGTS:{mpegts(start)},LOCAL:00:00:00.000", ""]
    if settled is not None:
        lines += [f"{SETTLED_NOTE} {settled:.3f}", ""]
    for cue in sorted(cues, key=lambda c: (c.start, c.end)):
        a, b = max(cue.start, start), min(cue.end, end)
        if b - a < 0.001:
            continue
        lines += [f"{format_time(a - start)} --> {format_time(b - start)}",
                  escape(cue.text), ""]
    return "\n".join(lines) + "\n"


def settled_note(text: str) -> float | None:
    """The `settled` a segment was rendered with (`render_segment`), if any."""
    match = re.search(rf"^{SETTLED_NOTE} ([0-9.]+)$", text, re.M)
    return float(match.group(1)) if match else None


def parse_segment(text: str) -> tuple[float, list[Cue]]:
    """A segment made by `render_segment` (or any WebVTT with an X-TIMESTAMP-MAP whose LOCAL
    is 0): the start it maps to, and its cues on the decode timeline."""
    blocks = text.replace("\r\n", "\n").split("\n\n")
    header = blocks[0].split("\n")
    if not header[0].startswith("WEBVTT"):
        raise ValueError("a WebVTT file starts with 'WEBVTT'")
    start = 0.0
    for line in header[1:]:
        if line.startswith("X-TIMESTAMP-MAP="):
            fields = dict(f.split(":", 1) for f in line.split("=", 1)[1].split(","))
            start = int(fields["MPEGTS"]) / MPEGTS_HZ - parse_time(fields["LOCAL"])
    cues = []
    for block in blocks[1:]:
        rows = [r for r in block.split("\n") if r]
        timing = next((i for i, r in enumerate(rows) if "-->" in r), None)
        if timing is None:
            continue
        a, b = (p.strip().split(" ")[0] for p in rows[timing].split("-->"))
        body = " ".join(rows[timing + 1:])
        body = body.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        cues.append(Cue(start + parse_time(a), start + parse_time(b), body))
    return start, cues


@dataclass(frozen=True)
class SubtitleSegment:
    """A published subtitle segment: the audio segment's number, place and date."""

    msn: int
    start: float  # decode timeline, seconds
    duration: float
    program_date_time: float
    discontinuity: bool


def render_playlist(segments: Sequence[SubtitleSegment], *, segment_target: float,
                    discontinuity_sequence: int, ended: bool, query: str = "") -> str:
    """The subtitles media playlist: whole segments only, the audio's numbers, dates and
    discontinuities, so a player lines each one up with the audio segment it covers."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:6",
             f"#EXT-X-TARGETDURATION:{target_duration(segment_target)}",
             f"#EXT-X-MEDIA-SEQUENCE:{segments[0].msn if segments else 0}"]
    if discontinuity_sequence:
        lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_sequence}")
    for s in segments:
        if s.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{format_pdt(s.program_date_time)}")
        lines.append(f"#EXTINF:{s.duration:.5f}".rstrip("0").rstrip(".") + ",")
        lines.append(vtt_uri(s.msn) + query)
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def subtitles_rendition(uri: str, language: str, name: str = "Captions") -> str:
    """The master playlist's EXT-X-MEDIA line (rfc8216bis §4.4.6.1): auto-selected only when
    the user's preferences ask for captions (AUTOSELECT), never forced on anyone."""
    return (f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="{SUBTITLES_GROUP}",NAME="{name}",'
            f'LANGUAGE="{language}",DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI="{uri}"')
