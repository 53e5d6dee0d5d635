"""Attackers: the flood patterns' shapes, many source addresses, and a run that ends by itself."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from tests.loadtest.fake_origin import FakeOrigin
from townhall.admission.tickets import TICKET_RE, Check, TicketSigner
from townhall.loadtest import ATTACK_PATTERNS, LoadConfig, LoadReport, run_load
from townhall.loadtest.attackers import attack_request, forged_ticket

NOW = 1_700_000_000.0


def test_forged_tickets_have_the_real_shape_a_future_expiry_and_are_refused() -> None:
    rng = random.Random(1)
    signer = TicketSigner("0123456789abcdef0123")
    for _ in range(200):
        ticket = forged_ticket(rng, NOW)
        m = TICKET_RE.match(ticket)
        assert m is not None
        assert int(m["exp"]) > NOW
        assert signer.check("abcdefghij", ticket, NOW)[0] is Check.FORGED


@pytest.mark.parametrize(("pattern", "method", "prefix"), [
    ("join", "POST", "/api/spaces/sp/join"), ("details", "GET", "/api/spaces/sp"),
    ("ticketless", "GET", "/live/sp/media.m3u8"), ("forged", "GET", "/live/sp/t/"),
    ("random", "GET", "/"),
])
def test_each_pattern_asks_for_what_the_flood_issue_describes(pattern: str, method: str,
                                                              prefix: str) -> None:
    got_method, path, _ = attack_request(pattern, "sp", random.Random(2), NOW)
    assert got_method == method and path.startswith(prefix)
    if pattern == "forged":
        assert path.endswith("/media.m3u8")


@pytest.mark.timing  # real time, measured against a figure: runs alone
def test_attackers_flood_from_many_addresses_at_the_rate_and_stop_by_themselves() -> None:
    async def go() -> tuple[LoadReport, FakeOrigin, float]:
        origin = await FakeOrigin().start()
        try:
            start = time.monotonic()
            report = await run_load(LoadConfig(
                target=origin.url, space="sp", listeners=0, duration_s=1.0,
                attacks=ATTACK_PATTERNS, attack_rate=300, attack_addresses=600, seed=7,
                slow_trickle_s=0.2))
            return report, origin, time.monotonic() - start
        finally:
            await origin.close()

    report, origin, elapsed = asyncio.run(go())
    assert elapsed < 3.0
    assert report.attack["sent"] == 300  # rate x duration exactly, however busy the loop
    by_pattern = report.attack["by_pattern"]
    assert set(by_pattern) == set(ATTACK_PATTERNS)
    outcomes = report.attack["by_outcome"]
    # the fake origin knows none of it: every request that finished got 404 (the last ones,
    # sent at the run's end, had a second to finish; any cut then is counted, not lost)
    assert outcomes["404"] >= 200, outcomes
    assert sum(outcomes.values()) == 300, outcomes  # every request sent has an outcome
    assert report.attack["by_outcome"]["held_to_end"] >= 40  # slowloris, never finished
    assert report.attack["slow"]["connections"] >= 40
    assert len(origin.peers) >= 200 and all(p.startswith("127.10.") for p in origin.peers)
    assert sum(s.attack_requests for s in report.timeline) > 0

