"""The home page asks for a hosting key before it creates a space, and keeps it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from harness.server import Server, start_server, stop_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path / "data", "--attack-mode", "off")
    yield srv
    stop_server(srv)


def test_creating_a_space_needs_a_key_that_the_page_then_keeps(server: Server,
                                                                page: Page) -> None:
    page.goto(server.base_url + "/")
    page.fill("#title", "Keyed")
    page.fill("#hostname", "Ada")
    page.fill("#api-key", "wrong-key")
    page.click("button[type=submit]")
    expect(page.locator("#error")).to_contain_text("API key")
    assert page.evaluate("localStorage.getItem('townhall.apiKey')") is None
    page.fill("#api-key", server.admin_key)
    page.click("button[type=submit]")
    expect(page.locator("#created")).to_be_visible()
    assert page.evaluate("localStorage.getItem('townhall.apiKey')") == server.admin_key
    page.reload()
    expect(page.locator("#api-key")).to_have_value(server.admin_key)
    expect(page.locator("main")).to_contain_text("Keyed")
