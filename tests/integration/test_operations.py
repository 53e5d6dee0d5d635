"""What an operator's tools see: health and readiness for load balancers, Prometheus metrics
of a live space, and JSON log lines that name the space."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest

from harness.server import free_port, push_tone, start_server, stop_server

pytestmark = pytest.mark.slow


def metric(text: str, name: str, labels: str = "") -> float | None:
    m = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", text, re.MULTILINE)
    return float(m.group(1)) if m else None


def test_health_readiness_metrics_and_json_logs_of_a_live_space(tmp_path: Path) -> None:
    operator = free_port()
    srv = start_server(tmp_path / "data", "--log-format", "json", "--log-level", "info",
                       "--metrics-listen", f"127.0.0.1:{operator}")
    push = None
    try:
        assert httpx.get(f"{srv.base_url}/healthz", timeout=10).json() == {"status": "alive"}
        ready = httpx.get(f"{srv.base_url}/readyz", timeout=10)
        assert ready.status_code == 200 and ready.headers["Cache-Control"] == "no-store"
        doc = srv.create_space()
        sid = doc["id"]
        push = push_tone(doc["ingest_url"], 8, 1000)
        srv.wait_on_air(sid, timeout=20)
        srv.join(sid)
        deadline = time.monotonic() + 15
        while True:  # until a segment is stored
            res = httpx.get(f"http://127.0.0.1:{operator}/metrics", timeout=10)
            stored = metric(res.text, "townhall_recording_bytes_total", f'{{space="{sid}"}}')
            if stored or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert res.headers["content-type"].startswith("text/plain")
        # the public HTTP port answers the metrics only with the admin key
        public = httpx.get(f"{srv.base_url}/metrics", timeout=10)
        assert public.status_code == 401 and public.json()["error"] == "admin_key_required"
        keyed = httpx.get(f"{srv.base_url}/metrics", headers=srv.hosting_headers(), timeout=10)
        assert keyed.status_code == 200 and "townhall_spaces" in keyed.text
        text = res.text
        assert stored and stored > 1000
        assert metric(text, "townhall_listeners", f'{{space="{sid}"}}') == 1.0
        lag = metric(text, "townhall_program_lag_seconds", f'{{space="{sid}"}}')
        assert lag is not None and 0 <= lag < 1.0
        assert metric(text, "townhall_spaces", '{state="live"}') == 1.0
        assert metric(text, "townhall_admission_events_total", '{event="joins"}') == 1.0
        assert metric(text, "townhall_recording_backlog_writes", f'{{space="{sid}"}}') is not None
        assert metric(text, "townhall_store_up") == 1.0
        assert "townhall_shed_requests_total" in text
        assert push.wait(30) == 0
        assert srv.end_space(doc).status_code == 200
    finally:
        if push is not None:
            push.kill()
            push.wait(10)
        stop_server(srv)
    lines = [json.loads(line) for line in srv.log().splitlines() if line.strip()]
    mine = [d["msg"] for d in lines if d.get("space_id") == sid]
    assert any("is live" in m for m in mine) and any("ended" in m for m in mine), lines
    assert any("source connected" in m for m in mine)
