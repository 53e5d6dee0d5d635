"""Latency tiers: the operator's choice, and the automatic move of new joiners to the
standard tier under origin or edge pressure, back to low once calm."""

from __future__ import annotations

import pytest

from townhall.delivery.latency_tier import LatencyTiers, Tier
from townhall.delivery.window import LiveWindow
from townhall.media.events import PartReady, SegmentClosed, SegmentOpened


def test_calm_spaces_serve_low_latency() -> None:
    t = LatencyTiers(ll_listeners_max=1000)
    assert t.tier("a", 999, 0.0, 0.0) == (Tier.LOW, "calm")
    assert t.announce("a", 10, 0.0, 0.0) == {
        "latency_tier": "low", "tier_playlist": "master.m3u8", "tier_reason": "calm"}


def test_edge_pressure_moves_new_joiners_to_standard_until_calm_for_the_hold() -> None:
    t = LatencyTiers(ll_listeners_max=1000, hold_s=30)
    assert t.tier("a", 1001, 0.0, 100.0) == (Tier.STANDARD, "edge")
    assert t.tier("b", 10, 0.0, 100.0)[0] is Tier.LOW  # per space
    assert t.tier("a", 500, 0.0, 120.0) == (Tier.STANDARD, "settling")
    assert t.tier("a", 500, 0.0, 131.0) == (Tier.LOW, "calm")
    assert t.switches == 1


def test_sustained_origin_lag_moves_new_joiners_to_standard() -> None:
    t = LatencyTiers(lag_ceiling_s=0.1, hold_s=5, sustain_s=2)
    assert t.tier("a", 1, 0.25, 0.0) == (Tier.LOW, "calm")  # one late tick is noise
    assert t.tier("a", 1, 0.0, 0.5) == (Tier.LOW, "calm")
    assert t.tier("a", 1, 0.25, 1.0) == (Tier.LOW, "calm")
    assert t.tier("a", 1, 0.3, 3.0) == (Tier.STANDARD, "origin")
    assert t.announce("a", 1, 0.0, 4.0)["tier_playlist"] == "standard.m3u8"
    assert t.tier("a", 1, 0.0, 8.1)[0] is Tier.LOW


def test_the_operator_chooses_for_all_spaces_or_one() -> None:
    t = LatencyTiers(mode="standard")
    assert t.tier("a", 0, 0.0, 0.0) == (Tier.STANDARD, "operator")
    t.set_mode("low", "a")
    assert t.tier("a", 10**9, 9.0, 0.0) == (Tier.LOW, "operator")
    assert t.tier("b", 0, 0.0, 0.0)[0] is Tier.STANDARD
    with pytest.raises(ValueError):
        t.set_mode("fast")
    with pytest.raises(ValueError):
        LatencyTiers(mode="ultra")


def test_the_standard_playlist_lists_whole_segments_only() -> None:
    w = LiveWindow(init=b"i", segment_target=2.24, part_target=0.32, parts_per_segment=7)
    for k in range(7 * 4 + 3):
        msn, i = divmod(k, 7)
        if i == 0:
            w.apply(SegmentOpened(msn, 1e9 + k * 0.32, False))
        w.apply(PartReady(msn, i, b"p", 0.32))
        if i == 6:
            w.apply(SegmentClosed(msn, 2.24, b"s"))
    text = w.render(standard=True)
    assert "EXT-X-PART" not in text and "PRELOAD-HINT" not in text
    assert "SERVER-CONTROL" not in text and "EXT-X-ENDLIST" not in text
    assert text.count("#EXTINF:") == 4 == text.count("#EXT-X-PROGRAM-DATE-TIME:")
    assert text.rstrip().endswith("seg/3.m4s")
