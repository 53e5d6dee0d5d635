"""Two real origins on one redis-server: a capped space's waiting room is one line for both.
Waiters spread over the origins are told one set of positions by either, admitted in arrival
order, and the cap holds over the cluster."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.cluster import cluster
from harness.server import free_port

pytestmark = pytest.mark.slow


def _join(base: str, sid: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{base}/api/spaces/{sid}/join", json=body, timeout=10)


def test_waiters_over_two_origins_are_admitted_in_global_order_under_one_cap(
        tmp_path: Path) -> None:
    with cluster(tmp_path, 2, free_port(), "--attack-mode", "off",
                 "--set", "join_burst_per_address=1000",
                 "--set", "provisional_seat_s=1") as c:
        a, b = c.origins
        doc = a.create_space(listener_cap=2)
        sid = doc["id"]
        bases = [a.base_url, b.base_url]
        held = [_join(bases[0], sid, {}).json() for _ in range(2)]  # the cap, taken on a
        assert [h["status"] for h in held] == ["admitted", "admitted"]
        time.sleep(0.3)  # the holders come back (a fifth of provisional_seat_s later): paid
        renewed = [_join(bases[1], sid, {"renew": h["ticket"], "seat_secret": h["seat_secret"]})
                   for h in held]
        assert [r.status_code for r in renewed] == [200, 200], [r.text for r in renewed]
        held = [r.json() for r in renewed]
        # a standard player's entry on b finds it full of paid seats (nothing to evict) and
        # takes no place in the line
        entry = httpx.get(f"{bases[1]}/live/{sid}/master.m3u8", timeout=10)
        assert entry.status_code == 503 and entry.json()["error"] == "space_full", entry.text
        tokens = []
        for i in range(6):  # waiters, alternating origins
            res = _join(bases[i % 2], sid, {})
            assert res.status_code == 202, res.text
            assert res.json()["position"] == i + 1
            tokens.append(res.json()["token"])
        for i, token in enumerate(tokens):  # the other origin knows each place
            res = _join(bases[(i + 1) % 2], sid, {"token": token})
            assert res.status_code == 202 and res.json()["position"] == i + 1, res.text
        admitted: list[int] = []
        for round_ in range(6):  # a seat frees on one origin; everyone polls the other one
            gone = held.pop(0)
            left = httpx.post(f"{bases[round_ % 2]}/api/spaces/{sid}/leave", timeout=10,
                              json={"ticket": gone["ticket"],
                                    "seat_secret": gone["seat_secret"]})
            assert left.status_code == 204, left.text
            for i, token in enumerate(tokens):
                if i in admitted:
                    continue
                res = _join(bases[(i + round_ + 1) % 2], sid, {"token": token})
                assert res.status_code in (200, 202), res.text
                if res.status_code == 200:
                    admitted.append(i)
                    held.append(res.json())
            assert len(held) == 2  # never past the cap, whichever origin admitted
        assert admitted == list(range(6))
        extra = _join(bases[1], sid, {})
        assert extra.status_code == 202 and extra.json()["position"] == 1
