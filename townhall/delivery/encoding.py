"""Which compressed form of a playlist a request may get (RFC 9110 §12.5.3 Accept-Encoding).

Sans-IO. Playlists are compressed once per publication by the live window; this module only
reads the request's header. It never compresses anything itself: a listener's request must
cost no compression at all, at the origin or at the edge.
"""

from __future__ import annotations

GZIP = "gzip"


def accepts_gzip(header: str | None) -> bool:
    """True when `Accept-Encoding` allows gzip: listed (or `*`) with a q-value above 0."""
    if not header:
        return False
    explicit: bool | None = None
    wildcard = False
    for item in header.split(","):
        coding, _, params = item.strip().partition(";")
        coding = coding.strip().lower()
        if coding not in (GZIP, "x-gzip", "*"):
            continue
        allowed = _q(params) > 0
        if coding == "*":
            wildcard = allowed
        else:
            explicit = allowed if explicit is None else explicit or allowed
    return explicit if explicit is not None else wildcard


def _q(params: str) -> float:
    for p in params.split(";"):
        name, _, value = p.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0  # a malformed weight: do not guess, send identity
    return 1.0
