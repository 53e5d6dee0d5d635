"""Thousands of listeners press "listen" at the scheduled minute: everyone gets an answer
fast (a ticket or a place in line), the cap holds, and the line moves in arrival order."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.rawhttp import request
from harness.server import start_server, stop_server

pytestmark = [pytest.mark.slow, pytest.mark.timing, pytest.mark.exclusive]  # fills both cores
JOINS = 2000
WINDOW_S = 2.5
CAP = 300
NETWORKS = 20


async def join_until_answered(port: int, space_id: str, source: str,
                              deadline: float) -> tuple[dict[str, Any], int, float]:
    """Join like the page does: honour 503/429 Retry-After until a ticket or a place."""
    retries = 0
    start = time.monotonic()
    while True:
        r = await request("POST", "127.0.0.1", port, f"/api/spaces/{space_id}/join",
                          source=source, body={}, timeout=20)
        if r.status in (200, 202):
            return r.json(), retries, time.monotonic() - start
        assert r.status in (429, 503), (r.status, r.body)
        assert "retry-after" in r.headers
        retries += 1
        assert time.monotonic() < deadline, "not answered before the deadline"
        await asyncio.sleep(float(r.headers["retry-after"]) * random.uniform(0.5, 1.0))


def test_join_storm_is_answered_within_the_cap_and_the_line_is_fifo(tmp_path: Path) -> None:
    # attack mode off: this is about admission; test_attack_mode covers proof of work
    srv = start_server(tmp_path / "data", "--attack-mode", "off", "--set", "seat_ttl_s=6",
                       "--set", "waiting_poll_grace_s=60")
    try:
        doc = srv.create_space(listener_cap=CAP)
        port = int(srv.base_url.rsplit(":", 1)[1])

        async def storm() -> list[tuple[dict[str, Any], int, float]]:
            deadline = time.monotonic() + 60

            async def one(i: int) -> tuple[dict[str, Any], int, float]:
                await asyncio.sleep(WINDOW_S * i / JOINS)
                n = i // NETWORKS
                source = f"127.{30 + i % NETWORKS}.{n // 250}.{1 + n % 250}"
                return await join_until_answered(port, doc["id"], source, deadline)

            return await asyncio.gather(*(one(i) for i in range(JOINS)))

        results = asyncio.run(storm())
        admitted = [r for r, _, _ in results if r["status"] == "admitted"]
        waiting = [r for r, _, _ in results if r["status"] == "waiting"]
        lat = sorted(t for _, _, t in results)
        print(f"flash crowd: {len(admitted)} admitted, {len(waiting)} waiting, "
              f"retries {sum(n for _, n, _ in results)}, answer p50 "
              f"{lat[len(lat) // 2]:.3f}s p99 {lat[int(len(lat) * .99)]:.3f}s")
        assert len(admitted) == CAP  # the cap is never exceeded, and it is filled
        assert len(waiting) == JOINS - CAP
        assert sorted(w["position"] for w in waiting) == list(range(1, JOINS - CAP + 1))
        details = srv.details(doc["id"])
        assert details["listeners"]["now"] == CAP and details["waiting"] == JOINS - CAP

        # nobody renews: the seats lapse and the head of the line gets them, in order
        by_position = sorted(waiting, key=lambda w: w["position"])

        async def poll_all() -> list[int]:
            got: list[int] = []
            end = time.monotonic() + 30
            while len(got) < CAP and time.monotonic() < end:
                async with httpx.AsyncClient(timeout=20) as c:
                    for w in by_position[: CAP + 50]:
                        if w["position"] in got:
                            continue
                        pos = w["position"]
                        r = await c.post(f"{srv.base_url}/api/spaces/{doc['id']}/join",
                                         json={"token": w["token"]},
                                         headers={"X-Real-IP": f"127.99.{pos // 200}.{pos % 200}"})
                        if r.status_code == 200:
                            got.append(w["position"])
                        else:
                            assert r.status_code in (202, 429, 503), r.text
                details = srv.details(doc["id"])
                assert details["listeners"]["now"] <= CAP
                await asyncio.sleep(1.0)
            return got

        got = asyncio.run(poll_all())
        assert sorted(got) == list(range(1, CAP + 1)), "the line did not move in order"
    finally:
        stop_server(srv)
