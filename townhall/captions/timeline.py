"""One space's captions on the audio's timeline: cues in, immutable WebVTT segments out (sans-IO).

Core: fed the audio segments as the program completes them, the recogniser's cues, how far
the recogniser has settled the audio (`settle`), and `now`; returns published segment numbers.
Never reads a clock, never does I/O.

Rules:
- subtitle segment N covers exactly audio segment N and is published once, after audio
  segment N, when the recogniser has settled all of N's audio (no cue can still fall into
  it) or `hold_s` after the audio segment completed, whichever is first; then it is
  immutable, like the audio (edges cache it with the same rules);
- or earlier, carried: when the recogniser has heard all of N's audio and only an
  utterance that began at most `carry_s` before N's end is still in progress, N is
  published without it and that utterance's cue is shown from N+1 on (at most `carry_s`
  of it is cut). A segment boundary falls in speech most of the time, and waiting for the
  utterance across it was most of the caption delay (bench/captions.py);
- segments are published in order, so the playlist never has a hole;
- a cue that arrives for audio already published is "late": counted in `late_cues`, never
  rewritten into a published segment, and shown in the next one (for at least `SHOWN_S`), so
  its words are never lost: before, a cue that ended inside published audio was in no segment
  at all, and that happened to a carried utterance whose words ended just before the carried
  segment's end (Whisper's end time, not the cutter's pause, decides where a cue ends);
- memory is bounded: `keep_segments` published segments and the cues they need;
- following (a cluster's standby: another origin's program, whose captions it serves): a
  segment is published only as the holder published it (`replicated`, the same bytes),
  never from this origin's own cues or hold; once this origin holds the program, what the
  old holder published and this one had not yet is still taken as it is, the rest by the
  rules above;
- recovering (this origin just took the program over): what the old holder heard and had
  not published captions for is being recognised here (`recover`); until `recovered`, or
  the deadline given, no segment is published except the old holder's own.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from townhall.captions.webvtt import (
    Cue,
    SubtitleSegment,
    render_playlist,
    render_segment,
    settled_note,
)

EPSILON_S = 0.001
SHOWN_S = 1.0  # s a late or carried cue is shown at least, from the next segment on


@dataclass
class _Waiting:
    segment: SubtitleSegment
    since: float  # `now` when the audio segment was seen complete


@dataclass
class CueTimeline:
    hold_s: float = 6.0
    keep_segments: int = 8
    cues: list[Cue] = field(default_factory=list)
    carry_s: float = 0.0
    settled: float = 0.0
    heard: float = 0.0
    carried_from: float | None = None  # the utterance left out of the last carried segment
    carried_cues: int = 0
    following: bool = False  # another origin holds the program (set by the service)
    recovering_until: float | None = None  # `now` until which a recovery may hold segments
    _replicated: dict[int, bytes] = field(default_factory=dict)
    late_cues: int = 0
    ended: bool = False
    discontinuity_sequence: int = 0
    _waiting: OrderedDict[int, _Waiting] = field(default_factory=OrderedDict)
    _published: OrderedDict[int, tuple[SubtitleSegment, bytes]] = field(
        default_factory=OrderedDict)
    version: int = 0  # bumps on every publication

    # --- fed by the service ---
    def audio_segment(self, segment: SubtitleSegment, now: float) -> None:
        """Audio segment `segment.msn` is complete (told again: ignored)."""
        if segment.msn in self._waiting or segment.msn in self._published:
            return
        last = self.last_msn
        if last is not None and segment.msn <= last:
            return  # older than what is published: a standby's replay of history
        self._waiting[segment.msn] = _Waiting(segment, now)

    def add(self, cue: Cue) -> bool:
        """A recognised cue; False when part of it fell into a published segment (late)."""
        published_end = self.published_end
        if published_end is not None and cue.start < published_end - EPSILON_S:
            # shown from the next segment on, whatever part of it is already out
            cue = Cue(cue.start, max(cue.end, published_end + SHOWN_S), cue.text)
        self.cues.append(cue)
        if published_end is not None and cue.start < published_end - EPSILON_S:
            if self.carried_from is not None and cue.start >= self.carried_from - EPSILON_S:
                self.carried_cues += 1  # the utterance a carried segment left out: expected
                return True
            self.late_cues += 1
            return False
        return True

    def settle(self, until: float, heard: float | None = None) -> None:
        """The recogniser has handled every sample before `until` (decode seconds), and
        between `until` and `heard` is at most the utterance in progress."""
        self.settled = max(self.settled, until)
        self.heard = max(self.heard, self.settled, heard if heard is not None else until)

    def replicated(self, msn: int, body: bytes) -> None:
        """Subtitle segment `msn` as the program's holder published it."""
        last = self.last_msn
        if (last is None or msn > last) and len(self._replicated) < 4 * self.keep_segments:
            self._replicated[msn] = body

    def recover(self, deadline: float) -> None:
        """The old holder's uncaptioned audio is being recognised here: hold the segments
        (at most until `deadline`, a `now`)."""
        self.recovering_until = deadline

    def recovered(self) -> None:
        self.recovering_until = None

    @property
    def covered_msn(self) -> int:
        """The newest segment published or received as the holder published it (-1: none)."""
        return max([-1, *self._published, *self._replicated])

    def recovery_start(self) -> float | None:
        """Where the audio no published caption covers begins: how far the recogniser that
        made the newest segment had got (its `NOTE settled`); None if it does not say."""
        msn = self.covered_msn
        body = self._replicated.get(msn) or self.segment(msn)
        return settled_note(body.decode(errors="replace")) if body else None

    def end(self) -> None:
        """The program ended: what waits is published at the next `publish`."""
        self.ended = True

    def publish(self, now: float) -> list[int]:
        """Publish, in order, every waiting segment that is settled or held long enough."""
        done: list[int] = []
        while self._waiting:
            msn, waiting = next(iter(self._waiting.items()))
            seg = waiting.segment
            body = self._replicated.pop(msn, None)
            if body is not None:
                del self._waiting[msn]
                self._published[msn] = (seg, body)
                done.append(msn)
                continue
            # following, a segment the holder will not publish any more (it has later ones)
            # is published from what is here, so the playlist never has a hole
            passed = bool(self._replicated) and min(self._replicated) > msn
            end = seg.start + seg.duration - EPSILON_S
            settled = self.settled >= end
            carried = self.heard >= end and self.settled >= end - self.carry_s
            if self.following and not (passed or self.ended):
                break  # the holder has not published it yet
            if self.recovering_until is not None:
                if now < self.recovering_until:
                    break  # its cues may be on their way (`recover`)
                self.recovering_until = None
            if not (settled or carried or passed or self.ended
                    or now - waiting.since >= self.hold_s):
                break
            if carried and not settled:
                self.carried_from = self.settled
            del self._waiting[msn]
            body = render_segment(self.cues, seg.start, seg.start + seg.duration,
                                  settled=self.settled).encode()
            self._published[msn] = (seg, body)
            done.append(msn)
        if done:
            self.version += 1
            self._evict()
        return done

    def _evict(self) -> None:
        while len(self._published) > self.keep_segments:
            _, (old, _body) = self._published.popitem(last=False)
            if old.discontinuity:  # rfc8216bis §4.4.3.3: counts the tags gone from the list
                self.discontinuity_sequence += 1
        last = self.last_msn
        if last is not None:
            for msn in [m for m in self._replicated if m <= last]:
                del self._replicated[msn]
        first = next(iter(self._published.values()))[0] if self._published else None
        if first is not None:
            self.cues = [c for c in self.cues if c.end > first.start]

    # --- read by the routes ---
    @property
    def last_msn(self) -> int | None:
        return next(reversed(self._published)) if self._published else None

    @property
    def published_end(self) -> float | None:
        if not self._published:
            return None
        seg = next(reversed(self._published.values()))[0]
        return seg.start + seg.duration

    def segment(self, msn: int) -> bytes | None:
        entry = self._published.get(msn)
        return entry[1] if entry is not None else None

    def playlist(self, segment_target: float, query: str = "") -> str:
        segments = [seg for seg, _ in self._published.values()]
        return render_playlist(segments, segment_target=segment_target,
                               discontinuity_sequence=self.discontinuity_sequence,
                               ended=self.ended and not self._waiting, query=query)
