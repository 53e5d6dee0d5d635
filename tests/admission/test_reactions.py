from __future__ import annotations

import pytest

from townhall.space.reactions import Reactions


def test_reactions_are_counted_per_complete_second_and_in_total() -> None:
    r = Reactions()
    for _ in range(30):
        r.add("👏", 10.2)
    r.add("🔥", 10.9, n=5)
    assert r.snapshot(10.95) == {"last_second": {}, "total": {"👏": 30, "🔥": 5}}
    assert r.snapshot(11.1)["last_second"] == {"👏": 30, "🔥": 5}
    assert r.snapshot(13.0)["last_second"] == {}


def test_unknown_reactions_are_refused() -> None:
    with pytest.raises(ValueError):
        Reactions().add("<script>", 0)
