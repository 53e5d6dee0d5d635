"""Through a real nginx edge (`townhall edge-config`) in front of a real origin, with a
counting relay between them: whatever query a path under the edge's `location /` (pages,
static files) carries, the origin is asked for the path alone, escaped, and a cached page is
answered without asking it at all (issue 18: random queries reached the origin uncached)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.adversarial.stage import RawClient, Stage, edge_stage

pytestmark = [pytest.mark.slow]

PATHS = ("/", "/static/no-such-file.js", "/no/such/page", "/a%20b", "/caf%C3%A9",
         "/x%3Fy", "/embed")


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    root: Path = tmp_path_factory.mktemp("pages")
    with edge_stage(root, live_s=20) as s:
        yield s


def test_no_query_under_the_pages_location_reaches_an_origin(stage: Stage) -> None:
    client = RawClient()
    try:
        for path in PATHS:
            asked = len(stage.relay.seen())
            for query in (f"r={secrets.token_hex(8)}", "a=1&a=2", "_HLS_msn=7", "%zz", "?"):
                reply = client.get(f"{stage.edge.url}{path}?{query}")
                assert reply.status_code in (200, 404), (path, query, reply.status_code)
            sent = stage.relay.seen()[asked:]
            assert all("?" not in target for target in sent), (path, sent)
            # the path itself arrives as it was asked (nginx escapes what it decoded)
            assert set(sent) <= {path, path.replace("%3F", "%3f")}, (path, sent)
    finally:
        client.close()


def test_a_cached_page_answers_every_query_without_asking_an_origin(stage: Stage) -> None:
    client = RawClient()
    try:
        assert client.get(f"{stage.edge.url}/").status_code == 200
        asked = len(stage.relay.seen())
        for _ in range(30):
            reply = client.get(f"{stage.edge.url}/?cb={secrets.token_hex(8)}")
            assert reply.status_code == 200 and reply.headers["x-cache"] == "HIT"
        assert stage.relay.seen()[asked:] == []
    finally:
        client.close()
