"""The origin dies mid-space: through the edge, the page keeps its details and says
"reconnecting", never an error or "details unavailable"."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from harness.edge import start_edge
from harness.server import free_port, push_tone, start_server, stop_server

pytestmark = pytest.mark.slow


def test_space_page_says_reconnecting_when_the_origin_dies(tmp_path: Path, page: Page) -> None:
    edge_port = free_port()
    origin = start_server(tmp_path / "data", "--public-url", f"http://127.0.0.1:{edge_port}")
    edge = start_edge(origin, tmp_path / "edge", edge_port)
    push = None
    try:
        doc = origin.create_space(title="Origin goes away", host="Ann")
        push = push_tone(doc["ingest_url"], 60)
        page.goto(f"{edge.url}/spaces/{doc['id']}")
        expect(page.locator("#state")).to_have_text("live")
        page.wait_for_function("document.getElementById('audio').currentTime > 1",
                               timeout=20_000)
        stop_server(origin)
        expect(page.locator("#conn")).to_have_text("reconnecting…", timeout=25_000)
        expect(page.locator("#title")).to_have_text("Origin goes away")
        expect(page.locator("#error")).to_be_hidden()
        assert "unavailable" not in page.content().lower()
        # the edge still answers the details document from its cache
        r = httpx.get(f"{edge.url}/api/spaces/{doc['id']}", timeout=10)
        assert r.status_code == 200 and r.json()["title"] == "Origin goes away"
        page.screenshot(path=str(tmp_path / "origin-down.png"))
    finally:
        if push is not None:
            push.kill()
            push.wait(10)
        edge.stop()
        stop_server(origin)
