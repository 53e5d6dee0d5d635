"""The replay page verifies the recording in Chromium with WebCrypto: "verified" (with the
key's fingerprint and the checkpoint this browser kept while live) for an untouched
recording, "not verified" naming the segment for one whose segment was altered on disk, and
"withdrawn" with the signed record once the host withdrew the replay."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.server import Server, push_tone, start_server, stop_process, stop_server
from tests.browser.conftest import chromium
from tests.integration.test_verifiable_record import CALM

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path / "data", *CALM)
    try:
        yield srv
    finally:
        stop_server(srv)


def test_replay_page_shows_verified_then_not_verified_when_tampered(
        server: Server, tmp_path: Path) -> None:
    doc = server.create_space(title="Verified", host="Host")
    sid = doc["id"]
    push = push_tone(doc["ingest_url"], 60, 550)  # ended as soon as the page kept a receipt
    fingerprint = httpx.get(f"{server.base_url}/.well-known/townhall-signing.json").json()[
        "fingerprint"]
    try:
        server.wait_on_air(sid, 20)
        with chromium(tmp_path / "listener") as ctx:
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            page.goto(f"{server.base_url}/spaces/{sid}")
            page.wait_for_function(
                f"(localStorage.getItem('townhall.checkpoints.{sid}') || '[]').length > 2",
                timeout=45_000)
            assert server.end_space(doc).status_code == 200
            el = page.locator("#verification[data-state=verified]")
            el.wait_for(timeout=30_000)
            text = el.inner_text()
            assert text.startswith("verified:") and fingerprint in text
            assert "1 checkpoint(s) you kept" in text
    finally:
        stop_process(push)

    seg = sorted((server.data_dir / "recordings" / sid).glob("seg-*.m4s"))[1]
    data = bytearray(seg.read_bytes())
    data[-3] ^= 0x01
    seg.write_bytes(bytes(data))
    msn = int(seg.stem.split("-")[1])
    with chromium(tmp_path / "other") as ctx:
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        page.goto(f"{server.base_url}/spaces/{sid}")
        el = page.locator("#verification[data-state=not-verified]")
        el.wait_for(timeout=30_000)
        assert el.inner_text() == f"not verified: segment {msn} differs"
        # withdrawn: the page no longer offers the replay, the record still verifies
        res = httpx.delete(f"{server.base_url}/api/spaces/{sid}/replay",
                           headers={"Authorization": f"Bearer {doc['host_key']}"}, timeout=10)
        assert res.status_code == 200
        page.goto(f"{server.base_url}/spaces/{sid}")
        page.evaluate("""(sid) => import('/static/verify.js').then((m) =>
            m.renderVerification(document.getElementById('verification'), sid))""", sid)
        page.wait_for_function(  # the replay tools stay hidden: read the element itself
            "!['running', undefined].includes(document.getElementById('verification')"
            ".dataset.state)", timeout=30_000)
        el = page.locator("#verification")
        text = el.text_content() or ""
        assert el.get_attribute("data-state") == "withdrawn", text
        assert text.startswith("withdrawn by the host at "), text
