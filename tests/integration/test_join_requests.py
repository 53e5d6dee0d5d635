"""Joins are answered without the web framework (the hot path at the scheduled minute), with
the documented route's rules: same body model, errors, limits and admission."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from harness.rawhttp import request
from harness.server import Server

pytestmark = pytest.mark.slow


def test_bad_join_bodies_get_the_documented_json_errors(server: Server) -> None:
    doc = server.create_space()
    url = f"{server.base_url}/api/spaces/{doc['id']}/join"

    def post(content: bytes, **headers: str) -> httpx.Response:
        return httpx.post(url, content=content, timeout=10,
                          headers={"Content-Type": "application/json", **headers})

    broken = post(b'{"renew": ')
    assert broken.status_code == 422 and broken.json()["error"] == "invalid_request"
    assert "JSON" in broken.json()["detail"]
    unknown = post(b'{"bogus": 1}')
    assert unknown.status_code == 422 and "bogus" in unknown.json()["detail"]
    too_long = post(b'{"renew": "' + b"x" * 200 + b'"}')
    assert too_long.status_code == 422 and "renew" in too_long.json()["detail"]
    wrong_type = post(b'{"token": 5}')
    assert wrong_type.status_code == 422 and "token" in wrong_type.json()["detail"]
    huge = post(b'{"renew": "' + b"x" * 100_000 + b'"}')
    assert huge.status_code == 413 and huge.json()["error"] == "body_too_large"

    def chunks() -> object:
        for _ in range(100):
            yield b" " * 1000
    chunked = httpx.post(url, content=chunks(), timeout=10)  # type: ignore[arg-type]
    assert chunked.status_code == 413
    gone = httpx.post(f"{server.base_url}/api/spaces/nosuchspace/join", timeout=10)
    assert gone.status_code == 404 and gone.json()["error"] == "space_not_found"
    assert httpx.get(url, timeout=10).status_code == 405  # only POST joins

    for body in (b"", b"{}"):
        ok = post(body)
        assert ok.status_code == 200, ok.text
        assert ok.json()["status"] == "admitted" and ok.headers["cache-control"] == "no-store"
    renewed = post(b'{"renew": "%s", "seat_secret": "%s"}' % (
        ok.json()["ticket"].encode(), ok.json()["seat_secret"].encode()))
    assert renewed.status_code == 200 and renewed.json()["seat"] == ok.json()["seat"]


def test_joins_from_one_address_are_limited_with_retry_after(server: Server) -> None:
    doc = server.create_space()
    port = int(server.base_url.rsplit(":", 1)[1])

    async def burst() -> list[tuple[int, str | None]]:
        out = []
        for _ in range(30):
            r = await request("POST", "127.0.0.1", port,
                              f"/api/spaces/{doc['id']}/join", source="127.77.0.9", body={})
            out.append((r.status, r.headers.get("retry-after")))
        return out

    answers = asyncio.run(burst())
    assert answers[0][0] == 200
    limited = [retry for status, retry in answers if status == 429]
    assert limited and all(retry is not None and int(retry) >= 1 for retry in limited)
