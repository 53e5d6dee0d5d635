"""The replay playlist is rendered and compressed once per origin: an hour's is about 11 times
smaller gzipped, and the same bytes (one ETag) on every origin. No sockets."""

from __future__ import annotations

import gzip
import random

from townhall.recording.manifest import RecordingManifest, SegmentEntry
from townhall.web.media import ReplayPlaylist

SEGMENT_S = 2.24  # 105 AAC frames of 1024 samples at 48 kHz


def an_hour(seed: int = 1) -> RecordingManifest:
    rng = random.Random(seed)
    start = 1_796_655_600.0
    segments = [SegmentEntry(msn, f"{msn}.m4s", 18_000, SEGMENT_S,
                             start + SEGMENT_S * msn + rng.uniform(0, 0.004), False,
                             "ab" * 32, "cd" * 32)
                for msn in range(int(3600 / SEGMENT_S) + 1)]
    return RecordingManifest("abcdefghij", "ef" * 32, segments, complete=True)


def test_an_hours_replay_playlist_is_gzipped_to_a_tenth() -> None:
    playlist = ReplayPlaylist.render(an_hour())
    assert gzip.decompress(playlist.gzipped) == playlist.plain
    assert playlist.plain.count(b"#EXTINF:") == 1608 and playlist.plain.endswith(
        b"#EXT-X-ENDLIST\n")
    assert len(playlist.plain) > 100_000
    assert len(playlist.gzipped) * 10 < len(playlist.plain), (
        len(playlist.plain), len(playlist.gzipped))


def test_every_origin_renders_the_same_bytes() -> None:
    assert ReplayPlaylist.render(an_hour()) == ReplayPlaylist.render(an_hour())
