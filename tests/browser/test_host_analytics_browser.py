"""The host page's chart covers the whole space from the server's analytics rows, not only
the time the page was open: opened after the end, it still shows the audience."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from harness.server import push_tone, start_server, stop_server
from tests.browser.conftest import chromium
from tests.browser.page_checks import ConsoleWatch

pytestmark = pytest.mark.slow


def test_host_page_opened_after_the_end_charts_the_whole_space(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", "--set", "shed_lag_scale=20",
                       "--set", "analytics_every_s=1")
    try:
        doc = srv.create_space(title="Charted")
        pusher = push_tone(doc["ingest_url"], 6, 450)
        srv.wait_on_air(doc["id"], 30)
        for _ in range(2):
            srv.join(doc["id"])
        time.sleep(2.5)
        assert pusher.wait(60) == 0
        assert srv.end_space(doc).status_code == 200
        with chromium(tmp_path / "profile") as ctx:
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            watch = ConsoleWatch(page)
            page.goto(doc["host_url"])
            expect(page.locator("#chart-note")).to_contain_text("2 listeners in all")
            expect(page.locator("#chart-note")).to_contain_text("highest 2")
            # two seats joined, never renewed: each counted to the middle of its first
            # ticket's life, cut at the end (admission/listening.py)
            expect(page.locator("#chart-note")).to_contain_text("median listening ")
            points = page.locator("#chart polyline").nth(1).get_attribute("points") or ""
            assert len(points.split()) >= 3, points
            assert not watch.errors, watch.errors
    finally:
        stop_server(srv)
