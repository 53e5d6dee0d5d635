"""Hosting quotas as a sans-IO core: per key and per origin, per hour and on air."""

from __future__ import annotations

from townhall.admission.hosting_quota import HostingQuota


def test_a_key_creates_its_hourly_quota_then_waits_for_the_oldest_to_age_out() -> None:
    q = HostingQuota(per_key_hour=2, per_origin_hour=100, live_per_key=1, live_per_origin=10)
    for t in (0.0, 10.0):
        assert q.check_create("k", False, t) is None
        q.created("k", t)
    refused = q.check_create("k", False, 20.0)
    assert refused is not None and refused.status == 429 and refused.retry_after == 3580.0
    assert q.check_create("other", False, 20.0) is None
    assert q.check_create("k", True, 20.0) is None  # the admin key is exempt per key
    assert q.check_create("k", False, 3600.5) is None


def test_the_origin_quota_binds_everyone_the_admin_included() -> None:
    q = HostingQuota(per_key_hour=100, per_origin_hour=3, live_per_key=5, live_per_origin=2)
    for i in range(3):
        q.created(f"k{i}", float(i))
    refused = q.check_create("admin", True, 5.0)
    assert refused is not None and (refused.status, refused.code) == (503, "origin_quota")
    full = q.check_live(True, 0, 2)
    assert full is not None and full.code == "origin_full"
    assert q.check_live(False, 5, 1) is not None and q.check_live(True, 5, 1) is None
