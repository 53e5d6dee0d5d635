"""The replay's transcript: the live captions' WebVTT segments laid on the replay's timeline.
Core: text in, text out; no I/O, no clock.

The live captions (townhall/captions) publish subtitle segment N for audio segment N, its cue
times relative to that segment's start, and a cue that spans a boundary repeated, cut, in
each segment it overlaps (docs/captions.md). The replay is the recording's segments in the
manifest's order, so audio segment N starts in the replay at the sum of the durations before
it. A cue's replay time is that plus its time in its segment; the pieces of one cue cut at a
boundary are joined again. Segments the captions never published (captions off for a while,
or a takeover that started a fresh cue timeline) simply have no cues.

Served as `/replay/ID/transcript.vtt` (web/feeds_transcript.py) and named by the podcast
feed's `podcast:transcript` (Podcasting 2.0, `type="text/vtt"`).
"""

from __future__ import annotations

from collections.abc import Iterable

from townhall.captions.webvtt import Cue, escape, format_time, parse_segment
from townhall.recording.manifest import RecordingManifest

JOIN_S = 0.05  # pieces of one cue this close, with the same text, are one cue again
MEDIA_TYPE = "text/vtt; charset=utf-8"


def replay_cues(segments: Iterable[tuple[int, str]],
                manifest: RecordingManifest) -> list[Cue]:
    """The cues of the captions segments `(msn, WebVTT)` on the replay's timeline; a segment
    the replay does not hold, or one that does not parse, gives none."""
    offsets: dict[int, tuple[float, float]] = {}
    at = 0.0
    for seg in manifest.segments:
        offsets[seg.msn] = (at, seg.duration)
        at += seg.duration
    cues: list[Cue] = []
    for msn, text in sorted(segments):
        place = offsets.get(msn)
        if place is None:
            continue
        try:
            start, found = parse_segment(text)
        except (ValueError, KeyError):
            continue
        offset, duration = place
        for cue in sorted(found, key=lambda c: c.start):
            a = offset + max(0.0, cue.start - start)
            b = offset + min(duration, cue.end - start)
            if b - a < 0.001:
                continue
            last = cues[-1] if cues else None
            if last is not None and last.text == cue.text and abs(a - last.end) <= JOIN_S:
                cues[-1] = Cue(last.start, b, last.text)
            else:
                cues.append(Cue(a, b, cue.text))
    return cues


def render(cues: list[Cue]) -> str:
    """A standalone WebVTT file (no X-TIMESTAMP-MAP: its times are the replay's)."""
    lines = ["WEBVTT", ""]
    for n, cue in enumerate(cues, 1):
        lines += [str(n), f"{format_time(cue.start)} --> {format_time(cue.end)}",
                  escape(cue.text), ""]
    return "\n".join(lines) + "\n"
