"""Canonical before keyed, through a real nginx edge (`townhall edge-config`) in front of a real
origin, with a relay that counts what the edge asks the origin: one blocking reload, part or
clip has one spelling and one cache key; any other spelling is refused at the edge (400, JSON,
no origin request) and by the origin; a clip's redirect is keyed by its query; held reloads
never take the origin connections that media needs."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.server import stop_process
from tests.adversarial.stage import Stage, edge_stage

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    with edge_stage(tmp_path_factory.mktemp("canonical"), live_s=120, replay=True) as s:
        yield s


def origin_url(stage: Stage, edge_url: str) -> str:
    return edge_url.replace(stage.edge.url, stage.origin.base_url)


def test_one_blocking_reload_has_one_key_and_other_spellings_never_reach_the_origin(
        stage: Stage) -> None:
    with httpx.Client(timeout=15) as client:
        msn, _ = stage.last_complete(client)
        canonical = f"_HLS_msn={msn}&_HLS_part=0"
        assert stage.media(f"media.m3u8?{canonical}", client).status_code == 200
        asked = len(stage.relay.seen())
        # the same request: order, and names the edge drops (never keyed, never forwarded)
        for same in (f"_HLS_part=0&_HLS_msn={msn}", f"{canonical}&cb=1", f"sid=x&{canonical}&",
                     f"{canonical}&&"):
            r = stage.media(f"media.m3u8?{same}", client)
            assert r.status_code == 200, (same, r.text)
        assert len(stage.relay.seen()) == asked, stage.relay.seen()[asked:]
        # other spellings of it: refused at the edge, the origin never asked
        for other in (f"_HLS_msn=0{msn}&_HLS_part=0", f"_HLS_msn=00{msn}&_HLS_part=0",
                      f"_HLS_msn=%2B{msn}&_HLS_part=0", f"_HLS_msn=+{msn}&_HLS_part=0",
                      f"_HLS_msn={msn}.0&_HLS_part=0", f"_HLS_msn={msn}%20&_HLS_part=0",
                      f"_HLS_msn=%3{str(msn)[0]}{str(msn)[1:]}&_HLS_part=0",
                      f"_hls_msn={msn}&_HLS_part=0", f"_HLS_MSN={msn}&_HLS_part=0",
                      f"%5FHLS_msn={msn}&_HLS_part=0", f"{canonical}&_HLS_msn={msn}",
                      f"{canonical}&_HLS_part=0", f"_HLS_msn={msn}&_HLS_part=00",
                      f"_HLS_msn={'9' * 13}", "_HLS_part=0", f"{canonical}&_HLS_skip=yes",
                      f"{canonical}&_HLS_skip=YES&_HLS_skip=YES"):
            r = stage.media(f"media.m3u8?{other}", client)
            assert r.status_code == 400, (other, r.status_code)
            assert r.json()["error"] == "non_canonical_query", other
        assert len(stage.relay.seen()) == asked, stage.relay.seen()[asked:]


def test_the_origin_answers_other_spellings_of_the_directives_with_400(stage: Stage) -> None:
    with httpx.Client(timeout=15) as client:
        msn, _ = stage.last_complete(client)
        base = origin_url(stage, stage.media_base)
        assert client.get(f"{base}/media.m3u8?_HLS_msn={msn}").status_code == 200
        for other in (f"_HLS_msn=0{msn}", f"_HLS_msn=+{msn}", f"_HLS_msn=%20{msn}",
                      f"_HLS_msn={msn}&_HLS_msn={msn}", f"%5FHLS_msn={msn}",
                      f"_hls_msn={msn}", f"_HLS_msn={msn}&_HLS_part=01"):
            r = client.get(f"{base}/media.m3u8?{other}")
            assert r.status_code == 400, other
            assert r.json()["error"] == "bad_blocking_request" and r.json()["detail"], other
        for path in ("seg/00.m4s", "part/01.0.m4s", "part/1.00.m4s", "seg/+1.m4s"):
            r = client.get(f"{base}/{path}")
            assert r.status_code == 400 and r.json()["error"] == "non_canonical_path", path


def test_misspelled_live_paths_are_refused_at_the_edge(stage: Stage) -> None:
    with httpx.Client(timeout=15) as client:
        msn, _ = stage.last_complete(client)
        # nginx's own normalisation maps these to the one path: one key, one origin fetch
        assert stage.media(f"part/{msn}.0.m4s", client).status_code == 200
        asked = len(stage.relay.seen())
        for same in (f"part/{msn}.%30.m4s", f"part//{msn}.0.m4s", f"./part/{msn}.0.m4s"):
            assert stage.media(same, client).status_code == 200, same
        for other in (f"part/0{msn}.0.m4s", f"part/{msn}.00.m4s", f"seg/0{msn}.m4s",
                      f"part/+{msn}.0.m4s", f"PART/{msn}.0.m4s", "index.m3u8",
                      f"part/{msn}.0.m4s.bak", "media.M3U8"):
            r = stage.media(other, client)
            assert r.status_code == 400 and r.json()["error"] == "non_canonical_path", other
        assert len(stage.relay.seen()) == asked, stage.relay.seen()[asked:]


def test_each_clip_gets_its_own_redirect_and_other_spellings_are_refused(
        stage: Stage) -> None:
    sid = stage.replay_id
    with httpx.Client(base_url=stage.edge.url, timeout=30) as client:
        first = client.get(f"/replay/{sid}/clip?from=0&to=1")
        second = client.get(f"/replay/{sid}/clip?from=2.5&to=3")
        assert first.status_code == second.status_code == 302
        assert first.headers["location"].endswith("/clip/0-0.m4a")
        assert second.headers["location"].endswith("/clip/1-1.m4a")  # not the first's 302
        again = client.get(f"/replay/{sid}/clip?from=2.5&to=3")
        assert again.headers["location"] == second.headers["location"]
        assert stage.relay.count(rf"^/replay/{sid}/clip\?") == 2  # one origin request each
        asked = len(stage.relay.seen())
        for other in ("from=2.50&to=3", "to=3&from=2.5", "from=2.5&to=3&x=1", "from=+2.5&to=3",
                      "from=2.5e0&to=3", "from=02.5&to=3", "from=2.5&to=3.", "from=%32.5&to=3",
                      "from=2.5&from=2.5&to=3", ""):
            r = client.get(f"/replay/{sid}/clip?{other}")
            assert r.status_code == 400 and r.json()["error"] == "non_canonical_query", other
        for other in ("clip/00-0.m4a", "clip/0-00.m4a", "clip/+0-0.m4a", "seg/00.m4s",
                      "clip/0-0.m4a.x"):
            r = client.get(f"/replay/{sid}/{other}")
            assert r.status_code == 400 and r.json()["error"] == "non_canonical_path", other
        r = client.get(f"/record/{sid}/checkpoints/01.json")
        assert r.status_code == 400 and r.json()["error"] == "non_canonical_path"
        assert len(stage.relay.seen()) == asked, stage.relay.seen()[asked:]
    # the origin alone: the same refusals, never a new signature per spelling
    with httpx.Client(base_url=stage.origin.base_url, timeout=30) as client:
        for other in ("clip/00-0.m4a", "clip/0-00.m4a", "clip/+0-0.m4a"):
            r = client.get(f"/replay/{sid}/{other}")
            assert r.status_code == 400 and r.json()["error"] == "bad_clip_range", other
        for other in ("from=2.50&to=3", "to=3&from=2.5", "from=2.5e0&to=3", "from=1_0&to=11"):
            r = client.get(f"/replay/{sid}/clip?{other}")
            assert r.status_code == 400 and r.json()["error"] == "bad_clip_range", other


def test_held_reloads_never_take_the_connections_that_media_needs(
        stage: Stage, tmp_path: Path) -> None:
    """Four connections per origin for media and four for holds, one worker: eight blocking
    reloads held at the origin, and every part and segment a listener misses still comes."""
    conf = (stage.edge.prefix / "nginx.conf").read_text()
    tight = re.sub(r"max_conns=\d+", "max_conns=4", conf).replace(
        "worker_processes auto;", "worker_processes 1;")
    prefix = tmp_path / "edge"
    for d in ("cache", "client_body", "proxy_temp", "fastcgi", "uwsgi", "scgi"):
        (prefix / d).mkdir(parents=True)
    tight = tight.replace(str(stage.edge.prefix), str(prefix))
    stage.edge.stop()  # the module's edge is given back afterwards
    (prefix / "nginx.conf").write_text(tight)
    proc = subprocess.Popen(["nginx", "-c", str(prefix / "nginx.conf"), "-p", str(prefix),
                             "-g", "daemon off;"], stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        with httpx.Client(timeout=15) as client:
            msn, parts = stage.last_complete(client)
            held: list[int] = []

            def hold(query: str) -> None:
                with httpx.Client(timeout=15) as c:
                    held.append(stage.media(f"media.m3u8?{query}", c).status_code)

            # the last parts of the segment after next: held for a segment or more
            queries = [f"_HLS_msn={msn + 2}&_HLS_part={p}{skip}"
                       for p in range(max(0, parts - 4), parts)
                       for skip in ("", "&_HLS_skip=YES")]
            threads = [threading.Thread(target=hold, args=(q,)) for q in queries]
            for t in threads:
                t.start()
            time.sleep(0.4)  # all held at the origin (or refused) by now
            got = [stage.media(f"seg/{m}.m4s", client).status_code
                   for m in range(max(0, msn - 3), msn + 1)]
            got += [stage.media(f"part/{msn}.{p}.m4s", client).status_code
                    for p in range(parts)]
            for t in threads:
                t.join(20)
        assert got == [200] * len(got), (got, held)
    finally:
        stop_process(proc)
        stage.edge.process = subprocess.Popen(
            ["nginx", "-c", str(stage.edge.prefix / "nginx.conf"), "-p",
             str(stage.edge.prefix), "-g", "daemon off;"], stderr=subprocess.DEVNULL)
        time.sleep(0.5)
