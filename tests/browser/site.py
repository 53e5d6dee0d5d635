"""One server and one browser for the page-state tests (tests/browser/test_pages.py and
test_page_contracts.py): every state set up together at the start, tones pushed by real
ffmpeg, a capped space with its one seat taken, a space already ended with its replay."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from subprocess import Popen
from typing import Any, TypeVar

import httpx
from playwright.sync_api import BrowserContext, Page

from harness.server import Server, push_tone, start_server, stop_process, stop_server
from tests.browser.page_checks import ConsoleWatch, goto

T = TypeVar("T")
POW_BITS = 22  # attack mode's proof of work: long enough (seconds) to show its progress


def iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def unshed(call: Callable[[], T]) -> T:
    """`call` again while the origin sheds it (503 "overloaded": it does so by design while
    the previous module's browser and tones still load the CPU)."""
    for _ in range(30):
        try:
            return call()
        except AssertionError as exc:
            if '"overloaded"' not in str(exc):
                raise
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != 503:
                raise
        time.sleep(0.5)
    return call()


def create_space(srv: Server, **body: Any) -> dict[str, Any]:
    return unshed(lambda: srv.create_space(**body))


@dataclass
class Site:
    server: Server
    browser: BrowserContext
    spaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    tones: list[Popen[bytes]] = field(default_factory=list)

    def open(self, url: str) -> tuple[Page, ConsoleWatch]:
        for old in self.browser.pages:  # one state at a time: the last one stops playing
            old.close()
        page = self.browser.new_page()
        watch = ConsoleWatch(page)
        goto(page, url)
        return page, watch


@contextmanager
def open_site(tmp: Path) -> Iterator[Site]:
    from tests.browser.conftest import chromium  # conftest imports this module

    srv = start_server(tmp / "data", "--set", f"pow_min_difficulty={POW_BITS}",
                       "--set", f"pow_max_difficulty={POW_BITS}")
    s = Site(srv, None)  # type: ignore[arg-type]
    try:
        sp = s.spaces
        sp["scheduled"] = create_space(srv, title="The future of public radio", host="Ada Lovelace",
                                           scheduled_start=iso(timedelta(hours=2)))
        sp["delayed"] = create_space(srv, title="Late night questions", host="Grace Hopper",
                                         scheduled_start=iso(-timedelta(minutes=5)))
        sp["live"] = create_space(srv, title="Morning news review", host="Linus Pauling")
        sp["capped"] = create_space(srv, title="A small room", host="Rosalind Franklin",
                                        listener_cap=1)
        sp["ended"] = create_space(srv, title="Yesterday's debate", host="Alan Turing")
        # the live tones outlast the module however slow the machine (stopped at teardown)
        for name, seconds in (("live", 1800), ("capped", 1800), ("ended", 6)):
            s.tones.append(push_tone(sp[name]["ingest_url"], seconds))
        for name in ("live", "capped", "ended"):
            space_id = sp[name]["id"]
            unshed(lambda: srv.wait_on_air(space_id, 30))  # noqa: B023 - called at once
        # the one seat is taken: the next listener waits in line
        unshed(lambda: srv.join(sp["capped"]["id"]))
        assert s.tones[2].wait(30) == 0  # the short tone has been sent in full
        for _ in range(30):
            res = srv.end_space(sp["ended"])
            if res.status_code != 503:
                break
            time.sleep(0.5)
        assert res.status_code == 200 and res.json()["replay_url"], res.text
        with chromium(tmp / "profile") as browser:
            s.browser = browser
            yield s
    finally:
        for tone in s.tones:
            stop_process(tone)
        stop_server(srv)


