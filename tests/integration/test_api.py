"""The control API as a host and a listener's page use it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from harness.server import Server, start_server, stop_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(module_server: Server) -> Server:
    """One origin for the module: every test here makes its own space."""
    return module_server


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def test_created_space_has_what_a_host_needs(server: Server) -> None:
    start = datetime.now(UTC) + timedelta(hours=1)
    doc = server.create_space(title="Town hall", host="Mayor", scheduled_start=iso(start),
                              listener_cap=500)
    assert doc["ingest_url"].startswith("icecast://source:")
    assert doc["ingest_url"].endswith(f":{server.ingest_port}/ingest/{doc['id']}")
    assert doc["page_url"] == f"{server.base_url}/spaces/{doc['id']}"
    assert doc["state"] == "scheduled" and doc["listener_cap"] == 500
    assert doc["scheduled_start"] == iso(start)
    details = server.details(doc["id"])
    assert "host_key" not in details and "ingest_url" not in details  # secrets stay private
    assert details["listeners"] == {"now": 0, "peak": 0}
    assert "stale-if-error" in httpx.get(f"{server.base_url}/api/spaces/{doc['id']}").headers[
        "cache-control"]
    host = httpx.get(f"{server.base_url}/api/spaces/{doc['id']}/host",
                     headers={"Authorization": f"Bearer {doc['host_key']}"})
    assert host.status_code == 200 and host.json()["ingest_url"] == doc["ingest_url"]
    assert httpx.get(f"{server.base_url}/api/spaces/{doc['id']}/host").status_code == 401


def test_space_past_its_start_and_not_live_shows_delayed(server: Server) -> None:
    doc = server.create_space(scheduled_start=iso(datetime.now(UTC) - timedelta(minutes=42)))
    assert server.details(doc["id"])["state"] == "delayed"


def test_spaces_are_listed_newest_first(server: Server) -> None:
    a = server.create_space(title="first")
    b = server.create_space(title="second")
    listed = httpx.get(f"{server.base_url}/api/spaces").json()["spaces"]
    assert [s["id"] for s in listed][:2] == [b["id"], a["id"]]


def test_openapi_docs_and_pages_are_served(server: Server) -> None:
    assert httpx.get(f"{server.base_url}/docs").status_code == 200
    paths = httpx.get(f"{server.base_url}/openapi.json").json()["paths"]
    assert "/api/spaces" in paths and "/api/spaces/{space_id}/end" in paths
    doc = server.create_space()
    for path in ("/", f"/spaces/{doc['id']}", f"/spaces/{doc['id']}/host",
                 "/static/vendor/hls.min.js", "/static/space.js"):
        assert httpx.get(server.base_url + path).status_code == 200, path


def test_spaces_survive_a_restart(tmp_path: object) -> None:
    from pathlib import Path

    data = Path(str(tmp_path)) / "data"
    srv = start_server(data)
    try:
        doc = srv.create_space(title="durable")
    finally:
        stop_server(srv)
    srv = start_server(data)
    try:
        assert srv.details(doc["id"])["title"] == "durable"
        assert srv.end_space(doc).status_code == 200  # the host key still works
    finally:
        stop_server(srv)
