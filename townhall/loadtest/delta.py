"""Playlist delta updates on the player's side (rfc8216bis §6.2.5.1): ask for one, merge it.

Sans-IO. A delta update lists only the segments newer than the Skip Boundary; the ones it
skipped are taken from the last full (or merged) playlist the player holds. When that
playlist does not hold them all, the merge fails and the player reloads in full, as hls.js
and Shaka do. Never fetches.
"""

from __future__ import annotations

import dataclasses

from townhall.loadtest.playlist import MediaPlaylist

SKIP_DIRECTIVE = "_HLS_skip=YES"
MERGED_MEMO = 256  # merges kept: listeners holding the same playlist share the merged one
_merged: dict[tuple[int, int], tuple[MediaPlaylist, MediaPlaylist, MediaPlaylist]] = {}


class DeltaMismatch(ValueError):
    """The previous playlist lacks segments the delta update skipped: reload in full."""


def may_ask_delta(previous: MediaPlaylist | None) -> bool:
    """A delta update is worth asking for when the server offers them and the player holds a
    playlist to merge it into (not ended)."""
    return (previous is not None and previous.can_skip_until is not None
            and not previous.ended and bool(previous.segments))


def merge_delta(previous: MediaPlaylist, delta: MediaPlaylist) -> MediaPlaylist:
    """The full playlist that `delta` stands for, its skipped segments taken from `previous`;
    a playlist without EXT-X-SKIP is returned as it is. Memoised on the two objects (parsed
    playlists are shared between listeners, so is the merge): treat the result as read-only."""
    if not delta.skipped:
        return delta
    key = (id(previous), id(delta))
    hit = _merged.get(key)
    if hit is not None and hit[0] is previous and hit[1] is delta:
        return hit[2]
    merged = _merge(previous, delta)
    if len(_merged) >= MERGED_MEMO:
        _merged.clear()
    _merged[key] = (previous, delta, merged)  # the references keep both ids valid
    return merged


def _merge(previous: MediaPlaylist, delta: MediaPlaylist) -> MediaPlaylist:
    first, upto = delta.media_sequence, delta.media_sequence + delta.skipped
    held = {s.msn: s for s in previous.segments if s.duration is not None}
    missing = [m for m in range(first, upto) if m not in held]
    if missing:
        raise DeltaMismatch(f"the delta skipped segments {missing[0]}..{missing[-1]}, "
                            "which the previous playlist does not hold")
    # a skipped segment keeps what was listed for it, parts included (they age out of the
    # full playlist too, but players never read parts of a segment that old)
    skipped = [dataclasses.replace(held[m], parts=[]) for m in range(first, upto)]
    return dataclasses.replace(delta, segments=skipped + list(delta.segments), skipped=0)
