"""The reach tables on each backend (SQLite, PostgreSQL): the webhook queue keeps an event
once per endpoint, hands out each endpoint's oldest pending delivery, lets one claimant take
it, trims the delivery log; analytics rows are bounded per space."""

from __future__ import annotations

from collections.abc import Callable

from townhall.store.factory import Stores
from townhall.store.reach import Endpoint, Sample


def test_queue_order_claims_log_and_samples(open_store: Callable[[], Stores]) -> None:
    store = open_store().reach
    for name in ("a", "b"):
        store.add_endpoint(Endpoint(name, "admin", f"http://x/{name}", "whsec_AA==",
                                    ("space.live",), 1.0))
    assert [e.id for e in store.endpoints("admin")] == ["a", "b"]
    assert store.enqueue("a", "e1", "space.live", "{}", 10.0)
    assert not store.enqueue("a", "e1", "space.live", "{}", 11.0)  # once per endpoint
    assert store.enqueue("a", "e2", "space.ended", "{}", 12.0)
    assert store.enqueue("b", "e1", "space.live", "{}", 10.0)
    heads = sorted(store.heads(), key=lambda d: d.endpoint_id)
    assert [(d.endpoint_id, d.event_id) for d in heads] == [("a", "e1"), ("b", "e1")]
    assert store.claim(heads[0], 50.0)
    assert not store.claim(heads[0], 60.0)  # another origin's claim of the same attempt
    store.finish(heads[0], "delivered", 50.0)
    assert [d.event_id for d in store.heads() if d.endpoint_id == "a"] == ["e2"]
    assert store.pending("a") == 1
    for i in range(5):
        store.log_attempt(heads[1], float(i), 500, "answered 500", 3, keep=3)
    assert [a["at"] for a in store.attempts("b", 10)] == [4.0, 3.0, 2.0]
    store.delete_endpoint("b", 99.0)
    assert store.endpoint("b") is None and store.pending("b") == 0
    for i in range(6):
        store.add_sample("s1", Sample(float(i * 10), i, 1, 0, 2, 0, i), keep=4)
    assert [s.at for s in store.samples("s1")] == [20.0, 30.0, 40.0, 50.0]
    assert store.samples("s2") == []
