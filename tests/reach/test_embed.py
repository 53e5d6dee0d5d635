"""The embed page's headers and oEmbed, against a real server (no browser)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from harness.server import Server, start_server, stop_server

pytestmark = pytest.mark.slow
CALM = ("--set", "shed_lag_scale=20")  # a shared, loaded test machine must not shed these


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path / "data", *CALM)
    try:
        yield srv
    finally:
        stop_server(srv)


def test_embed_may_be_framed_anywhere_and_oembed_answers_only_for_own_spaces(
        server: Server) -> None:
    base = server.base_url
    sid = server.create_space(title='Quotes "and" <tags>')["id"]
    page = httpx.get(f"{base}/embed/{sid}", timeout=10)
    assert page.status_code == 200
    assert "x-frame-options" not in page.headers
    assert page.headers["content-security-policy"] == "frame-ancestors *"
    assert httpx.get(f"{base}/embed/zzzzzzzzzz", timeout=10).status_code == 404

    space_page = httpx.get(f"{base}/spaces/{sid}", timeout=10).text
    link = (f'<link rel="alternate" type="application/json+oembed" href="{base}/oembed?url='
            f'{quote(base + "/spaces/" + sid, safe="")}"')
    assert link in space_page

    doc = httpx.get(f"{base}/oembed", params={"url": f"{base}/spaces/{sid}"}, timeout=10)
    assert doc.status_code == 200 and doc.headers["content-type"] == "application/json"
    body = doc.json()
    assert body["type"] == "rich" and body["version"] == "1.0"
    assert (body["width"], body["height"]) == (480, 120)
    assert f'src="{base}/embed/{sid}"' in body["html"]
    assert "&quot;and&quot; &lt;tags&gt;" in body["html"]  # the title is escaped
    narrow = httpx.get(f"{base}/oembed", params={"url": f"{base}/spaces/{sid}",
                                                  "maxwidth": "300"}, timeout=10).json()
    assert narrow["width"] == 300 and 'width="300"' in narrow["html"]

    for url, status in [(f"https://evil.example/spaces/{sid}", 404),
                        (f"{base}/spaces/zzzzzzzzzz", 404), (f"{base}/elsewhere", 404),
                        ("http://[::1", 404), ("", 400)]:
        res = httpx.get(f"{base}/oembed", params={"url": url}, timeout=10)
        assert res.status_code == status, (url, res.text)
        assert res.json()["error"]
    xml = httpx.get(f"{base}/oembed", params={"url": f"{base}/spaces/{sid}", "format": "xml"},
                    timeout=10)
    assert xml.status_code == 501


def test_frame_ancestors_follow_the_setting(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", *CALM, "--set",
                       "embed_frame_ancestors=https://news.example https://blog.example")
    try:
        sid = srv.create_space()["id"]
        page = httpx.get(f"{srv.base_url}/embed/{sid}", timeout=10)
        assert page.headers["content-security-policy"] == (
            "frame-ancestors https://news.example https://blog.example")
    finally:
        stop_server(srv)


def test_the_space_page_with_its_discovery_link_revalidates(server: Server) -> None:
    url = f"{server.base_url}/spaces/{server.create_space()['id']}"
    first = httpx.get(url, timeout=10)
    assert "application/json+oembed" in first.text and "public" in first.headers[
        "cache-control"]
    again = httpx.get(url, headers={"If-None-Match": first.headers["etag"]}, timeout=10)
    assert again.status_code == 304
