"""What every page state must pass: no console errors, a screenshot at a phone and a desktop
size kept as a test artifact, and axe-core (npm, injected from node_modules) with no serious
or critical violation. Artifacts go to $TOWNHALL_ARTIFACTS or tmp/artifacts/pages."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import ConsoleMessage, Page, expect

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = {"phone": (390, 844), "desktop": (1280, 800)}
SERIOUS = ("serious", "critical")
# the origin sheds (503) while Chromium, ffmpeg and WebRTC peers share two cores, and the
# page then backs off: expectations wait as long as the UI actions do
expect.set_options(timeout=20_000)


def artifacts_dir() -> Path:
    out = Path(os.environ.get("TOWNHALL_ARTIFACTS", ROOT / "tmp" / "artifacts")) / "pages"
    out.mkdir(parents=True, exist_ok=True)
    return out


class ConsoleWatch:
    """Collects a page's console errors and uncaught exceptions from the moment it is made.
    `allowed` lets one state name an error the protocol itself causes (and say why)."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error":
            self.errors.append(f"{msg.text} @ {msg.location.get('url', '')}")

    def unexpected(self, allowed: Callable[[str], bool] = lambda _: False) -> list[str]:
        return [e for e in self.errors if not allowed(e) and not shed(e)]


def shed(error: str) -> bool:
    """A 503 the origin answered by design while the test machine's CPU is busy (shedding by
    priority, DESIGN.md): Chromium logs it as a failed load; the page backs off and retries."""
    return "status of 503" in error


def goto(page: Page, url: str) -> None:
    """page.goto, again while the origin sheds the page (503: pages go first under load)."""
    for _ in range(20):
        response = page.goto(url)
        if response is None or response.status != 503:
            return
        page.wait_for_timeout(500)
    raise AssertionError(f"{url} stayed shed (503)")


def axe_violations(page: Page) -> list[dict[str, Any]]:
    assert AXE.exists(), f"{AXE} is missing: run scripts/setup --test (npm ci)"
    if not page.evaluate("Boolean(window.axe)"):
        page.add_script_tag(path=str(AXE))
    result: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document, { resultTypes: ['violations'] })).violations
             .map(v => ({ id: v.id, impact: v.impact, help: v.help,
                          nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')) }))""")
    return [v for v in result if v["impact"] in SERIOUS]


def check_state(page: Page, name: str, ready: Callable[[Page], None] | None = None) -> None:
    """Both viewports: wait until `ready`, screenshot, and no serious a11y violation."""
    out = artifacts_dir()
    for label, (width, height) in VIEWPORTS.items():
        page.set_viewport_size({"width": width, "height": height})
        if ready is not None:
            ready(page)
        page.wait_for_timeout(300)  # a layout pass and a poll after the resize
        page.screenshot(path=str(out / f"{name}-{label}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width, f"{name} at {label} scrolls sideways: {overflow} px wide"
        violations = axe_violations(page)
        assert violations == [], f"{name} at {label}: {violations}"
