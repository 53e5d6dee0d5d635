"""Headless Debian Chromium driven by Playwright (never downloaded), fresh profile per test."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, sync_playwright

from tests.browser.site import Site, open_site

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
UI_TIMEOUT_MS = 20_000


@contextmanager
def chromium(profile: Path, extra_args: Sequence[str] = ()) -> Iterator[BrowserContext]:
    """Debian's Chromium with a fresh profile; `extra_args` e.g. a fake microphone."""
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            user_data_dir=str(profile), executable_path=CHROMIUM, headless=True,
            args=[*CHROMIUM_ARGS, *extra_args], viewport={"width": 800, "height": 900},
            timeout=30_000)
        ctx.set_default_timeout(UI_TIMEOUT_MS)
        try:
            yield ctx
        finally:
            ctx.close()


@pytest.fixture
def context(tmp_path: Path) -> Iterator[BrowserContext]:
    with chromium(tmp_path / "profile") as ctx:
        yield ctx


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.pages[0] if context.pages else context.new_page()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The page-state tests' shared server and browser (tests/browser/site.py), one per
    module: shared across the whole package it would load the CPU under the timing tests."""
    with open_site(tmp_path_factory.mktemp("pages")) as s:
        yield s
