"""The one spelling of each value that enters an edge cache key, a rate-limit key or a lookup.

Canonical before keyed (docs/threat-model.md): a number a client may write as `7`, `07`, `+7`,
`7.0` or `%37` is one object to the origin (which parses it) and many to a cache (which keys
the bytes). So each value has exactly one accepted spelling, given here once as a regular
expression that both ends use: the origin (`re.fullmatch`) answers 400 to anything else and
the edge (`delivery/edge_config.py`, in nginx's PCRE) refuses it without asking an origin.
Sans-IO; ASCII digits only (Python's `int()` also reads Arabic-Indic digits).
"""

from __future__ import annotations

import re


def canonical_number(digits: int) -> str:
    """A non-negative integer of at most `digits` digits: `0`, or no leading zero."""
    return f"(?:0|[1-9][0-9]{{0,{digits - 1}}})"


# seconds from the start of a replay (clip bounds): up to 3 decimals, no trailing zero, no
# exponent, sign, space or underscore (float() reads `1e1`, ` 10`, `1_0` and `10.0` as 10)
SECONDS = r"(?:0|[1-9][0-9]{0,6})(?:\.[0-9]{0,2}[1-9])?"
SEGMENT_NUMBER = canonical_number(12)
CLIP_QUERY = rf"from=(?P<start>{SECONDS})&to=(?P<end>{SECONDS})"
CLIP_RANGE = rf"(?P<first>{SEGMENT_NUMBER})-(?P<last>{SEGMENT_NUMBER})"

CLIP_QUERY_RE = re.compile(CLIP_QUERY)
CLIP_RANGE_RE = re.compile(CLIP_RANGE)
