"""Attack mode asks new joins for a proof of work; tickets already issued keep working."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest

from harness.server import Server, start_server, stop_server
from townhall.admission.proof_of_work import solve

pytestmark = [pytest.mark.slow, pytest.mark.timing]


def admin(srv: Server) -> dict[str, str]:
    return {"Authorization": "Bearer " + (srv.data_dir / "admin.key").read_text().strip()}


def test_operator_attack_mode_requires_work_for_new_joins_only(server: Server) -> None:
    doc = server.create_space()
    push = subprocess.Popen(["ffmpeg", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
                             "sine=duration=6", "-c:a", "aac", "-f", "adts", doc["ingest_url"]])
    try:
        base = server.media_base(doc["id"])  # a ticket issued before the attack
        r = httpx.put(f"{server.base_url}/api/admin/attack-mode", json={"mode": "on"},
                      headers=admin(server))
        assert r.status_code == 200 and r.json()["active"] is True
        assert httpx.put(f"{server.base_url}/api/admin/attack-mode", json={"mode": "x"},
                         headers=admin(server)).status_code == 422
        assert httpx.put(f"{server.base_url}/api/admin/attack-mode",
                         json={"mode": "off"}).status_code == 401

        join = f"{server.base_url}/api/spaces/{doc['id']}/join"
        r = httpx.post(join)
        assert r.status_code == 428
        body = r.json()
        assert body["error"] == "proof_of_work_required" and body["difficulty"] >= 1
        wrong = httpx.post(join, json={"challenge": body["challenge"], "solution": "1"})
        assert wrong.status_code == 428 and "refused" in wrong.json()["detail"]
        fresh = httpx.post(join).json()
        ok = httpx.post(join, json={"challenge": fresh["challenge"],
                                    "solution": solve(fresh["challenge"],
                                                      fresh["difficulty"])})
        assert ok.status_code == 200 and ok.json()["status"] == "admitted"
        for _ in range(50):  # the old ticket still plays
            m = httpx.get(f"{base}/media.m3u8", timeout=10)
            if m.status_code == 200:
                break
            time.sleep(0.1)
        assert m.status_code == 200
    finally:
        push.wait(30)


def test_join_surge_switches_attack_mode_on_by_itself(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", "--set", "attack_join_rate=2",
                       "--set", "join_burst_per_address=1000")
    try:
        doc = srv.create_space()
        join = f"{srv.base_url}/api/spaces/{doc['id']}/join"
        codes = [httpx.post(join).status_code for _ in range(40)]
        assert codes[0] == 200 and codes[-1] == 428
        metrics = httpx.get(f"{srv.base_url}/api/admin/metrics", headers=admin(srv)).json()
        assert metrics["attack_mode"]["active"] is True
    finally:
        stop_server(srv)


def test_reactions_are_aggregated_per_second_and_rate_limited(tmp_path: Path) -> None:
    # a slow refill, so that a busy machine answering 30 requests slowly cannot refill the
    # burst of 20 before the last one: the limit is what is tested, not the machine's speed
    server = start_server(tmp_path / "data", "--set", "reaction_rate_per_address=0.05")
    try:
        doc = server.create_space()
        url = f"{server.base_url}/api/spaces/{doc['id']}/reactions"
        codes = [httpx.post(url, json={"emoji": "👏", "count": 2}).status_code
                 for _ in range(30)]
        assert codes.count(202) >= 20 and codes[-1] == 429
        assert httpx.post(url, json={"emoji": "💩"}, headers={"X-Real-IP": "127.5.5.5"}
                          ).status_code == 422
        time.sleep(1.1)
        total = server.details(doc["id"])["reactions"]["total"]
        assert total["👏"] == 2 * codes.count(202)
    finally:
        stop_server(server)


def test_api_calls_are_rate_limited_per_address_with_retry_after(server: Server) -> None:
    doc = server.create_space()
    url = f"{server.base_url}/api/spaces/{doc['id']}"
    replies = [httpx.get(url, headers={"X-Real-IP": "127.6.6.6"}) for _ in range(80)]
    limited = [r for r in replies if r.status_code == 429]
    assert limited, "80 requests in a burst were never limited"
    assert int(limited[0].headers["retry-after"]) >= 1
    assert limited[0].json()["error"] == "rate_limited"
    assert httpx.get(url, headers={"X-Real-IP": "127.7.7.7"}).status_code == 200
