"""Cache-Control values for everything the origin serves; one place, so edges stay consistent.

Published media never changes (immutable). Playlists and status documents live briefly but
let an edge keep serving a stale copy while revalidating or while the origin is down.
"""

from __future__ import annotations

IMMUTABLE = "public, max-age=31536000, immutable"
# live parts and segments: as immutable, in fewer bytes (one goes out every 0.32 s to every
# LL listener). "public" adds nothing without Authorization (RFC 9111 §5.2.2.9); an hour
# outlives the live window many times over.
LIVE_MEDIA = "max-age=3600,immutable"


def live_playlist(part_target: float) -> str:
    # The playlist a player joins with (and plain players' reloads). No
    # stale-while-revalidate: it let an edge hand a joiner a playlist up to 3 s old, and a
    # player stays as far behind live as the playlist it started from. Our nginx edges cache
    # it for 0.1 s at most (edge_config's join bucket); any other cache for 1 s at most.
    max_age = 1
    return f"public, max-age={max_age}, stale-if-error=60"


def standard_playlist() -> str:
    # the standard tier plays three target durations back: a second or two of staleness
    # costs its listeners nothing, and edges answer its reloads from cache
    return "public, max-age=1, stale-while-revalidate=2, stale-if-error=60"


def blocking_playlist(segment_target: float) -> str:
    # a blocking response is unique to its _HLS_msn/_HLS_part: cacheable for a few segments.
    # No stale-if-error: a cache holds a blocking URL only once it was answered, and within
    # max-age it is fresh anyway (one goes out every 0.32 s to every LL listener).
    return f"max-age={int(6 * segment_target)}"


def ended_playlist() -> str:
    return "public, max-age=60, stale-while-revalidate=300, stale-if-error=86400"


def status_document() -> str:
    return "public, max-age=1, stale-while-revalidate=5, stale-if-error=86400"


NO_STORE = "no-store"
