"""Per family of spellings: [tried, held], filled by the tests, printed by conftest."""

from __future__ import annotations

from collections.abc import Callable

REPORT: dict[str, list[int]] = {}


def tally(family: str, check: Callable[[], None]) -> None:
    """Run one try of a family; count it, and count it as held when `check` passes."""
    entry = REPORT.setdefault(family, [0, 0])
    entry[0] += 1
    check()
    entry[1] += 1
