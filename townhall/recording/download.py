"""The replay download: a recording's segments re-muxed into one seekable `.m4a`.

Sans-IO. The hash-chained manifest chains the published segments (served as they are by
`/replay/ID/media.m3u8`); the download is a re-mux of those same AAC access units, byte for
byte and in order, into a progressive MP4 whose moov carries the true duration and a full
sample index (`townhall.media.progressive`), so any player over HTTP (Range requests) shows
the length and seeks. `townhall verify` checks such a file by its access units against each
segment's frame digest in the signed manifest. The web edge (`web/signed_replay.py`) adds
Content Credentials and keeps the result; clips are built the same way from fewer segments.
"""

from __future__ import annotations

from collections.abc import Sequence

from townhall.media.progressive import SampleTable, fragments, progressive_head


def progressive(init: bytes, segments: Sequence[bytes]) -> bytes:
    """The progressive MP4 of an init section and CMAF segments, in order. ValueError if a
    segment cannot be read as CMAF."""
    table = SampleTable()
    parsed = [(data, fragments(data)) for data in segments]
    for _data, frags in parsed:
        for fragment in frags:
            table.add(fragment)
    out = [progressive_head(init, table)]
    for data, frags in parsed:  # the same access units, in the same order
        out.extend(fragment.samples(data) for fragment in frags)
    return b"".join(out)
