"""Sources outlive their origin: through the edge, a push source restarted by its operator's
retry loop is accepted by a surviving origin and heard, and a second push source of a space
on another origin takes over exactly as on one origin (the older one is answered 409)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from harness.cluster import cluster, wait_for
from harness.edge import start_edge_over
from harness.server import free_port, tone_power
from tests.cluster.source_helpers import (
    FfmpegRetry,
    Pusher,
    playing_at,
    playing_now,
    tone_file,
)

pytestmark = [pytest.mark.slow, pytest.mark.timing]
# kill -> the restarted source heard again through the edge: README 2.5 s, held within 2x
BACK_S = 5.0


def test_a_push_source_restarted_through_the_edge_is_heard_from_a_surviving_origin(
        tmp_path: Path) -> None:
    edge_port = free_port()
    ingest = f"http://127.0.0.1:{edge_port}"
    with cluster(tmp_path, 3, edge_port, "--set", f"ingest_public_url={ingest}") as c:
        edge = start_edge_over({f"o{i}": o for i, o in enumerate(c.origins)},
                               tmp_path / "edge", edge_port)
        source = None
        try:
            doc = c.origins[0].create_space(title="pushed")
            sid = doc["id"]
            # the ingest URL handed out names the edge: a chunked PUT, which nginx forwards
            assert doc["ingest_url"] == f"http://source:{doc['host_key']}@127.0.0.1:" \
                                        f"{edge_port}/ingest/{sid}"
            source = FfmpegRetry(doc["ingest_url"], 660, tmp_path / "ffmpeg.log")
            source.start()
            wait_for(lambda: httpx.get(f"{edge.url}/api/spaces/{sid}").json()["on_air"], 30,
                     "on air through the edge")
            first = c.holder(sid)
            assert first is not None and source.starts == 1
            assert tone_power(*playing_now(edge.url, sid), 660) > 0.5
            names = dict(zip("abc", c.origins, strict=True))
            names[first].process.send_signal(signal.SIGKILL)  # the source's origin dies
            killed = time.monotonic()

            def survivor() -> str | None:
                now = c.holder(sid)  # None for a moment while the lease moves
                return now if now not in (None, first) else None

            second = wait_for(survivor, 10, "another origin holds it")
            # ffmpeg failed, the loop started it again, the edge sent it to a live origin
            wait_for(lambda: source.starts >= 2 and tone_power(*playing_now(edge.url, sid),
                                                               660) > 0.5,
                     2 * BACK_S, "the restarted source heard again")
            back_s = time.monotonic() - killed
            holder = names[second]
            assert "source connected" in holder.log() or holder.process.poll() is None
            print(f"push source heard again {back_s:.1f} s after its origin was killed "
                  f"(ffmpeg started {source.starts} times)")
            assert back_s < BACK_S
        finally:
            if source is not None:
                source.close()
            edge.stop()


def test_a_second_source_on_another_origin_takes_over_and_the_first_gets_409(
        tmp_path: Path) -> None:
    with cluster(tmp_path, 2, free_port()) as c:
        a, b = c.origins
        doc = a.create_space(title="two sources")
        sid = doc["id"]
        low, high = tone_file(tmp_path / "low.aac", 40, 440), tone_file(tmp_path / "high.aac",
                                                                          40, 880)
        first = Pusher(f"{a.base_url}/ingest/{sid}", doc["host_key"], low, 40)
        second = Pusher(f"{b.base_url}/ingest/{sid}", doc["host_key"], high, 40)
        try:
            first.start()
            a.wait_on_air(sid, timeout=20)
            wait_for(lambda: c.holder(sid) == "a", 10, "a holding the program")
            second.start()  # the same key on another origin: the newer source takes over
            wait_for(lambda: first.answer is not None, 15, "the first source's answer")
            assert first.answer is not None
            status, body = first.answer
            assert (status, body["error"]) == (409, "taken_over"), first.answer
            wait_for(lambda: c.holder(sid) == "b", 10, "the program following the source")
            assert second.answer is None  # the newer one plays on
            base = b.media_base(sid).replace(c.public_url, b.base_url)
            wait_for(lambda: tone_power(*playing_at(base), 880) > 0.5, 15,
                     "the newer source heard")
        finally:
            for p in (first, second):
                p.stop.set()
                p.join(15)
