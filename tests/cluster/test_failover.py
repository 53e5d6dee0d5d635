"""Two origins on one Redis and one database: the standby follows the live program part for
part, and takes it over when the holder is killed."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import httpx
import pytest

from harness.cluster import cluster, wait_for
from harness.server import free_port, push_tone

pytestmark = [pytest.mark.slow, pytest.mark.timing]


def parts_listed(playlist: str) -> list[str]:
    return re.findall(r'#EXT-X-PART:[^\n]*URI="([^"]+)"', playlist)


def parts_after(base: str, uri: str) -> int:
    """How many parts the playlist lists after `uri` (all of them once it scrolled out)."""
    listed = parts_listed(httpx.get(f"{base}/media.m3u8").text)
    return len(listed) - listed.index(uri) - 1 if uri in listed else len(listed)


def test_a_standby_serves_the_same_parts_and_continues_the_playlist_when_the_holder_dies(
        tmp_path: Path) -> None:
    with cluster(tmp_path, 2, free_port()) as c:
        a, b = c.origins
        doc = a.create_space()
        sid = doc["id"]
        push = push_tone(doc["ingest_url"], 60, 440)
        try:
            a.wait_on_air(sid, timeout=20)
            assert c.holder(sid) == "a"
            # b admits and serves the live window too (links name the edge: go direct)
            base_b = b.media_base(sid).replace(c.public_url, b.base_url)
            base_a = a.media_base(sid).replace(c.public_url, a.base_url)
            wait_for(lambda: len(parts_listed(httpx.get(f"{base_b}/media.m3u8").text)) > 8,
                     10, "the standby's window")
            uris = parts_listed(httpx.get(f"{base_b}/media.m3u8").text)[:6]
            for uri in uris:  # byte for byte the holder's parts
                assert httpx.get(f"{base_b}/{uri}").content == \
                    httpx.get(f"{base_a}/{uri}").content
            last_before = httpx.get(f"{base_b}/media.m3u8").text
            msn_before = int(re.findall(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", last_before)[0])
            a.process.send_signal(signal.SIGKILL)
            a.process.wait(5)
            killed = time.monotonic()
            wait_for(lambda: c.holder(sid) == "b", 5, "the standby to take the lease")
            took = time.monotonic() - killed
            assert took < 2.5, took  # the lease lapses (1.5 s) and b takes it
            # b continues the same playlist: the same media sequence, parts after the last one
            # a published (no timeline jump: the decode time goes on where it was)
            last = parts_listed(last_before)[-1]
            wait_for(lambda: parts_after(base_b, last) >= 6, 15, "the continued playlist")
            after = httpx.get(f"{base_b}/media.m3u8").text
            assert int(re.findall(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", after)[0]) >= msn_before
            assert "#EXT-X-DISCONTINUITY" not in after
            for uri in parts_listed(after):  # every listed part answers
                assert httpx.get(f"{base_b}/{uri}").status_code == 200, uri
        finally:
            push.kill()
            push.wait(10)


def test_a_source_arriving_at_another_origin_takes_the_program_there(tmp_path: Path) -> None:
    with cluster(tmp_path, 2, free_port()) as c:
        a, b = c.origins
        doc = a.create_space()
        sid = doc["id"]
        first = push_tone(doc["ingest_url"], 60, 440)
        second = None
        try:
            a.wait_on_air(sid, timeout=20)
            assert c.holder(sid) == "a"
            base_b = b.media_base(sid).replace(c.public_url, b.base_url)
            wait_for(lambda: len(parts_listed(httpx.get(f"{base_b}/media.m3u8").text)) > 4,
                     10, "the standby's window")
            before = parts_listed(httpx.get(f"{base_b}/media.m3u8").text)[-1]
            # the host's source reconnects, and the edge sent it to b this time
            host = httpx.get(f"{b.base_url}/api/spaces/{sid}/host", timeout=10,
                             headers={"Authorization": f"Bearer {doc['host_key']}"}).json()
            assert f":{b.ingest_port}/" in host["ingest_url"]
            second = push_tone(host["ingest_url"], 60, 660)
            wait_for(lambda: c.holder(sid) == "b", 10, "the program handed over to b")
            first.kill()  # the old connection goes away, as a reconnecting source's does
            wait_for(lambda: parts_after(base_b, before) >= 6, 15, "the continued playlist")
            base_a = a.media_base(sid).replace(c.public_url, a.base_url)
            after = httpx.get(f"{base_b}/media.m3u8").text
            for uri in parts_listed(after)[-4:]:  # a follows b now: the same bytes
                wait_for(lambda u=uri: httpx.get(f"{base_a}/{u}").status_code == 200, 5,
                         "a following b")
                assert httpx.get(f"{base_a}/{uri}").content == \
                    httpx.get(f"{base_b}/{uri}").content
        finally:
            for p in (first, second):
                if p is not None:
                    p.kill()
                    p.wait(10)
