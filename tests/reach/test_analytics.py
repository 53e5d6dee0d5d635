"""The host's analytics from a real server: rows on a grid while live, kept after the end,
as JSON and CSV, for the host key only."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import httpx
import pytest

from harness.server import push_tone, start_server, stop_server

pytestmark = pytest.mark.slow


def test_analytics_count_listeners_joins_leaves_and_reactions(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", "--set", "shed_lag_scale=20",
                       "--set", "analytics_every_s=1")
    try:
        base = srv.base_url
        doc = srv.create_space(title="Counted")
        sid = doc["id"]
        host = {"Authorization": f"Bearer {doc['host_key']}"}
        pusher = push_tone(doc["ingest_url"], 9, 400)
        srv.wait_on_air(sid, 30)
        seats = [srv.join(sid) for _ in range(3)]
        assert all(s["status"] == "admitted" for s in seats)
        res = httpx.post(f"{base}/api/spaces/{sid}/reactions", json={"emoji": "👏", "count": 4},
                         timeout=10)
        assert res.status_code == 202, res.text
        time.sleep(2.5)
        left = httpx.post(f"{base}/api/spaces/{sid}/leave", timeout=10, json={
            "ticket": seats[0]["ticket"], "seat_secret": seats[0]["seat_secret"]})
        assert left.status_code == 204, left.text
        time.sleep(2.5)
        assert pusher.wait(60) == 0
        assert srv.end_space(doc).status_code == 200

        got = httpx.get(f"{base}/api/spaces/{sid}/analytics", headers=host, timeout=10)
        assert got.status_code == 200 and got.headers["cache-control"] == "no-store"
        body = got.json()
        rows, total = body["samples"], body["summary"]
        assert len(rows) >= 4, rows
        times = [r["at"] for r in rows]
        assert times == sorted(set(times)) and all(t == int(t) for t in times)  # the grid
        assert max(r["listeners"] for r in rows) == 3
        assert rows[-1]["listeners"] == 2
        assert total["peak_listeners"] >= 3 and total["unique_listeners"] == 3
        assert total["joins"] == 3 and total["leaves"] == 1 and total["reactions"] == 4
        assert total["listening_hours"] > 0

        as_csv = httpx.get(f"{base}/api/spaces/{sid}/analytics", params={"format": "csv"},
                           headers=host, timeout=10)
        assert as_csv.headers["content-type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(as_csv.text)))
        assert [int(r["listeners"]) for r in table] == [r["listeners"] for r in rows]
        assert table[0]["time"].endswith("Z")

        assert httpx.get(f"{base}/api/spaces/{sid}/analytics", timeout=10).status_code == 401
        admin = httpx.get(f"{base}/api/spaces/{sid}/analytics", headers=srv.hosting_headers(),
                          timeout=10)
        assert admin.status_code == 200
        bad = httpx.get(f"{base}/api/spaces/{sid}/analytics", params={"format": "xml"},
                        headers=host, timeout=10)
        assert bad.status_code == 400 and bad.json()["error"] == "bad_format"
        assert httpx.get(f"{base}/api/spaces/zzzzzzzzzz/analytics", headers=host,
                         timeout=10).status_code == 404
    finally:
        stop_server(srv)
