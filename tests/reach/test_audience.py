"""The analytics core, fed counters and a clock (no sockets)."""

from __future__ import annotations

from townhall.reach.audience import AudienceTally, summary


def test_keys_give_joins_leaves_uniques_and_listening_time() -> None:
    t = AudienceTally(every_s=10, max_keys=3)
    rows = [t.sample(0, 2, admitted=None, keys=["a", "b"], reactions=5, waiting=0),
            t.sample(10, 2, admitted=None, keys=["b", "c"], reactions=9, waiting=1),
            t.sample(20, 3, admitted=None, keys=["b", "c", "d"], reactions=9, waiting=0),
            t.sample(30, 1, admitted=None, keys=["e"], reactions=12, waiting=0)]
    assert [(r.joins, r.leaves, r.uniques, r.reactions) for r in rows] == [
        (2, 0, 2, 0), (1, 1, 1, 4), (1, 0, 1, 0), (1, 3, 1, 3)]
    assert t.untracked == 2  # d and e came past max_keys: counted, not remembered
    assert t.median_listening_s() == 20.0  # a: 10, b: 30, c: 20
    total = summary(rows, 10, peak=4, median_s=t.median_listening_s())
    assert total["peak_listeners"] == 4 and total["unique_listeners"] == 5
    assert total["listening_hours"] == round(80 / 3600, 4)
    assert (total["joins"], total["leaves"], total["reactions"]) == (5, 4, 7)


def test_seats_granted_count_joins_when_tickets_are_on() -> None:
    t = AudienceTally(every_s=10, max_keys=100)
    first = t.sample(0, 3, admitted=7, keys=None, reactions=0, waiting=4)
    second = t.sample(10, 4, admitted=9, keys=None, reactions=0, waiting=0)
    assert (first.joins, first.uniques, first.waiting) == (3, 3, 4)  # those there at start
    assert (second.joins, second.leaves, second.uniques) == (2, 1, 2)
    assert t.median_listening_s() is None
    assert summary([], 10, peak=0, median_s=None)["unique_listeners"] == 0
