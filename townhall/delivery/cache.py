"""Cache-Control values for everything the origin serves; one place, so edges stay consistent.

Published media never changes (immutable). Playlists and status documents live briefly but
let an edge keep serving a stale copy while revalidating or while the origin is down.
"""

from __future__ import annotations

IMMUTABLE = "public, max-age=31536000, immutable"


def live_playlist(part_target: float) -> str:
    # LL-HLS players use blocking reloads; plain reloads may be a second stale
    max_age = 1  # edges collapse plain reloads to one origin fetch per second
    return f"public, max-age={max_age}, stale-while-revalidate=2, stale-if-error=60"


def blocking_playlist(segment_target: float) -> str:
    # a blocking response is unique to its _HLS_msn/_HLS_part: cacheable for a few segments
    return f"public, max-age={int(6 * segment_target)}, stale-if-error=60"


def ended_playlist() -> str:
    return "public, max-age=60, stale-while-revalidate=300, stale-if-error=86400"


def status_document() -> str:
    return "public, max-age=1, stale-while-revalidate=5, stale-if-error=86400"


NO_STORE = "no-store"
