"""The replay's HTTP, at the origin and through a real nginx edge: every byte route (the
signed `.m4a`, a clip, `init.mp4`, a segment) answers Range (206, 416, Accept-Ranges) and
conditional requests (strong ETag, If-None-Match 304, If-Range) the same way at both, the
replay playlist is gzip-compressed like the live ones, and the public record (signing key,
manifest, checkpoints) answers another site's page with CORS. Real ffmpeg pushes a tone."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from harness.edge import Edge, origin_behind_edge
from harness.server import Server, push_tone, stop_process

pytestmark = pytest.mark.slow

CALM = ("--set", "shed_lag_scale=20")  # about HTTP, not shedding on a busy machine
VERIFIER = "https://verifier.example"


@dataclass
class Replay:
    origin: Server
    edge: Edge
    sid: str
    manifest: dict[str, Any]

    def bases(self) -> list[str]:
        return [self.origin.base_url, self.edge.url]

    def byte_paths(self) -> list[str]:
        first, second = (s["msn"] for s in self.manifest["segments"][:2])
        return [f"/replay/{self.sid}.m4a", f"/replay/{self.sid}/clip/{first}-{second}.m4a",
                f"/replay/{self.sid}/init.mp4", f"/replay/{self.sid}/seg/{second}.m4s"]


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replay]:
    with origin_behind_edge(tmp_path_factory.mktemp("replay"), *CALM) as (origin, edge):
        doc = origin.create_space(title="Ranges", host="Host")
        push = push_tone(doc["ingest_url"], 6, 550)
        try:
            origin.wait_on_air(doc["id"], 20)
            assert push.wait(30) == 0
        finally:
            stop_process(push)
        assert origin.end_space(doc).status_code == 200
        manifest = httpx.get(f"{origin.base_url}/record/{doc['id']}/manifest.json",
                             timeout=10).json()
        yield Replay(origin, edge, doc["id"], manifest)


def test_byte_routes_answer_ranges_alike_at_the_origin_and_the_edge(replay: Replay) -> None:
    with httpx.Client(timeout=30) as client:
        for path in replay.byte_paths():
            whole: dict[str, bytes] = {}
            tags: dict[str, str] = {}
            for base in replay.bases():
                url = base + path
                res = client.get(url)
                assert res.status_code == 200, (url, res.text)
                assert res.headers["accept-ranges"] == "bytes", url
                etag = res.headers["etag"]
                assert etag.startswith('"') and not etag.startswith("W/"), (url, etag)
                body, size = res.content, len(res.content)
                whole[base], tags[base] = body, etag
                head = client.head(url)
                assert (head.status_code, head.content) == (200, b""), url
                assert int(head.headers["content-length"]) == size, url
                assert head.headers["etag"] == etag, url

                part = client.get(url, headers={"Range": "bytes=10-19"})
                assert part.status_code == 206, (url, part.status_code)
                assert part.headers["content-range"] == f"bytes 10-19/{size}", url
                assert part.content == body[10:20] and part.headers["etag"] == etag

                tail = client.get(url, headers={"Range": "bytes=-7"})
                assert (tail.status_code, tail.content) == (206, body[-7:]), url
                open_ended = client.get(url, headers={"Range": f"bytes={size - 3}-"})
                assert (open_ended.status_code, open_ended.content) == (206, body[-3:]), url

                past = client.get(url, headers={"Range": f"bytes={size}-"})
                assert past.status_code == 416, (url, past.status_code)
                assert past.headers["content-range"] == f"bytes */{size}", url

                same = client.get(url, headers={"If-None-Match": etag})
                assert (same.status_code, same.content) == (304, b""), url
                assert same.headers["etag"] == etag, url
                other = client.get(url, headers={"If-None-Match": '"not-this-one"'})
                assert other.status_code == 200 and other.content == body, url

                resumed = client.get(url, headers={"Range": "bytes=5-", "If-Range": etag})
                assert (resumed.status_code, resumed.content) == (206, body[5:]), url
                changed = client.get(url, headers={"Range": "bytes=5-",
                                                   "If-Range": '"an-older-file"'})
                assert (changed.status_code, changed.content) == (200, body), url
            # the edge hands on the origin's bytes and validator, not its own
            assert whole[replay.edge.url] == whole[replay.origin.base_url], path
            assert tags[replay.edge.url] == tags[replay.origin.base_url], path


def test_a_clip_is_the_same_bytes_on_every_request(replay: Replay) -> None:
    """Signing is not deterministic: the origin signs a clip once and keeps it, so a player's
    range requests and a resumed download fit together."""
    first, last = (s["msn"] for s in replay.manifest["segments"][1:3])
    url = f"{replay.origin.base_url}/replay/{replay.sid}/clip/{first}-{last}.m4a"
    bodies = {httpx.get(url, timeout=30).content for _ in range(3)}
    assert len(bodies) == 1
    body = bodies.pop()
    pieces = [httpx.get(url, headers={"Range": f"bytes={a}-{a + 999}"}, timeout=30).content
              for a in range(0, len(body), 1000)]
    assert b"".join(pieces) == body


def test_the_replay_playlist_is_gzipped_once_and_revalidates(replay: Replay) -> None:
    for base in replay.bases():
        url = f"{base}/replay/{replay.sid}/media.m3u8"
        plain = httpx.get(url, headers={"Accept-Encoding": "identity"}, timeout=10)
        assert plain.status_code == 200 and "content-encoding" not in plain.headers, base
        assert plain.text.startswith("#EXTM3U") and "#EXT-X-ENDLIST" in plain.text
        packed = httpx.get(url, headers={"Accept-Encoding": "gzip, br"}, timeout=10)
        assert packed.headers["content-encoding"] == "gzip", base
        assert "Accept-Encoding" in packed.headers["vary"], base
        assert packed.text == plain.text  # (httpx decodes it)
        assert int(packed.headers["content-length"]) < len(plain.content), base
        # each form has its own strong validator (§8.8.3: they are different bytes)
        assert packed.headers["etag"] != plain.headers["etag"]
        again = httpx.get(url, headers={"Accept-Encoding": "gzip",
                                        "If-None-Match": packed.headers["etag"]}, timeout=10)
        assert again.status_code == 304, base
    # exactly gzip's bytes, as nginx would hand them on
    with httpx.Client(timeout=10) as client:
        req = client.build_request("GET", f"{replay.edge.url}/replay/{replay.sid}/media.m3u8",
                                   headers={"Accept-Encoding": "gzip"})
        res = client.send(req, stream=True)
        raw_body = b"".join(res.iter_raw())
        res.close()
    assert gzip.decompress(raw_body).decode() == plain.text


def test_the_public_record_answers_another_sites_page_with_cors(replay: Replay) -> None:
    sid = replay.sid
    paths = ["/.well-known/townhall-signing.json", f"/record/{sid}/manifest.json",
             f"/record/{sid}/checkpoints.json", f"/record/{sid}/checkpoints/latest.json",
             f"/record/{sid}"]
    for base in replay.bases():
        for path in paths:
            # first without Origin (fills the edge's cache), then from another site
            assert httpx.get(base + path, timeout=10).status_code == 200, (base, path)
            res = httpx.get(base + path, headers={"Origin": VERIFIER}, timeout=10)
            assert res.status_code == 200, (base, path)
            assert res.headers.get("access-control-allow-origin") == "*", (base, path)
            assert "ETag" in res.headers["access-control-expose-headers"], (base, path)
            # a verifier that kept a copy revalidates it
            same = httpx.get(base + path, timeout=10, headers={
                "Origin": VERIFIER, "If-None-Match": res.headers["etag"]})
            assert same.status_code == 304, (base, path, same.status_code)
            assert same.headers.get("access-control-allow-origin") == "*", (base, path)
            # a fetch() with If-None-Match or Range from that page is preflighted: allowed
            pre = httpx.options(base + path, timeout=10, headers={
                "Origin": VERIFIER, "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "if-none-match"})
            assert pre.status_code == 204, (base, path, pre.status_code)
            assert "If-None-Match" in pre.headers["access-control-allow-headers"], (base, path)


def test_a_cold_edge_answers_a_range_and_a_revalidation_on_first_ask(replay: Replay) -> None:
    """The first request an edge sees for an object may be a seek or a revalidation: it
    fetches the whole object once and answers the request from it."""
    msns = [s["msn"] for s in replay.manifest["segments"]]
    clip = f"/replay/{replay.sid}/clip/{msns[0]}-{msns[-1]}.m4a"
    seg = f"/replay/{replay.sid}/seg/{msns[0]}.m4s"
    edge, origin = replay.edge.url, replay.origin.base_url
    body = httpx.get(origin + clip, timeout=30).content
    part = httpx.get(edge + clip, headers={"Range": "bytes=100-199"}, timeout=30)
    assert (part.status_code, part.content) == (206, body[100:200])
    assert part.headers["content-range"] == f"bytes 100-199/{len(body)}"
    again = httpx.get(edge + clip, headers={"Range": "bytes=200-"}, timeout=30)
    assert (again.status_code, again.content, again.headers["x-cache"]) == (
        206, body[200:], "HIT")
    etag = httpx.head(origin + seg, timeout=10).headers["etag"]
    cold = httpx.get(edge + seg, headers={"If-None-Match": etag}, timeout=10)
    assert cold.status_code == 304 and cold.headers["etag"] == etag


def test_a_refused_range_is_never_cached(replay: Replay) -> None:
    url = f"{replay.origin.base_url}/replay/{replay.sid}/init.mp4"
    refused = httpx.get(url, headers={"Range": "bytes=999999-"}, timeout=10)
    assert refused.status_code == 416 and refused.headers["cache-control"] == "no-store"
    failed = httpx.get(url, headers={"If-Match": '"another"'}, timeout=10)
    assert failed.status_code == 412 and failed.headers["cache-control"] == "no-store"
    assert "immutable" in httpx.get(url, timeout=10).headers["cache-control"]


def test_a_clip_has_one_spelling(replay: Replay) -> None:
    """Edges cache clips by path: another spelling of the same segments is refused, not
    signed and cached again."""
    first, second = (s["msn"] for s in replay.manifest["segments"][:2])
    base = f"{replay.origin.base_url}/replay/{replay.sid}/clip"
    for spelled in (f"0{first}-{second}", f"+{first}-{second}", f"{first}-0{second}",
                    f"{first}-{second}-", f"{first}_{second}"):
        res = httpx.get(f"{base}/{spelled}.m4a", timeout=10)
        assert res.status_code == 400 and res.json()["error"] == "bad_clip_range", spelled


def test_made_up_accept_encodings_share_two_edge_cache_entries(replay: Replay) -> None:
    """Every spelling of Accept-Encoding is gzip or not, at the edge as for the live
    playlists: a flood of made-up values is answered from the edge's cache."""
    url = f"{replay.edge.url}/replay/{replay.sid}/media.m3u8"
    with httpx.Client(timeout=10) as client:
        for warm in ("gzip", "identity"):
            client.get(url, headers={"Accept-Encoding": warm})
        for i in range(10):
            for value, gzipped in ((f"gzip;q=0.{i + 1}, x-{i}", True), (f"x-{i}", False)):
                res = client.get(url, headers={"Accept-Encoding": value})
                assert res.headers["x-cache"] == "HIT", (value, res.headers["x-cache"])
                assert (res.headers.get("content-encoding") == "gzip") is gzipped, value
