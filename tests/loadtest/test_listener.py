"""A simulated listener against a scripted origin: what it asks for, and where it stops."""

from __future__ import annotations

import asyncio
import json

from tests.loadtest.fake_origin import FakeOrigin
from townhall.loadtest import LoadConfig, LoadReport, run_load


def test_a_listener_facing_a_server_that_never_blocks_stops_at_its_request_budget() -> None:
    """A broken origin answers every blocking reload at once with the same playlist: the
    listener would spin; its request budget ends it, and only our target is ever asked."""
    base = "/live/sp/t/s1.9999999999.aaaaaaaaaaaaaaaaaaaaaa"
    playlist = ("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PART-INF:PART-TARGET=0.32\n"
                "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.96\n"
                "#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z\n"
                '#EXT-X-PART:DURATION=0.32,URI="part/0.0.m4s"\n'
                '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part/0.1.m4s"\n')
    join = {"status": "admitted", "ticket": "s1.9999999999.aaaaaaaaaaaaaaaaaaaaaa",
            "renew_after_s": 600,
            "playlist_url": f"https://far-away.example{base}/master.m3u8"}

    async def go() -> tuple[LoadReport, FakeOrigin]:
        origin = await FakeOrigin().start()
        origin.routes = {"/api/spaces/sp/join": json.dumps(join).encode(),
                         f"{base}/master.m3u8": b"#EXTM3U\nmedia.m3u8\n",
                         f"{base}/media.m3u8": playlist.encode(), f"{base}/init.mp4": b"i",
                         f"{base}/part/0.0.m4s": b"p", f"{base}/part/0.1.m4s": b"p"}
        try:
            return await run_load(LoadConfig(target=origin.url, space="sp", listeners=2,
                                             duration_s=2.0, leave_at_end=False)), origin
        finally:
            await origin.close()

    report, origin = asyncio.run(go())
    assert report.errors == {"listener:request_budget_spent": 2}
    assert report.listeners_by_state == {"failed": 2}
    assert len(origin.paths) <= 2 * (2 * 50 + 100)  # the budget, for each of two listeners
    assert all(p.startswith(("/api/", base)) for p in origin.paths)


def test_a_listener_retries_after_shedding_waits_in_line_solves_the_work_and_is_admitted(
) -> None:
    def answer(status: int, doc: dict[str, object],
               headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
        return status, json.dumps(doc).encode(), headers or {}

    admitted = {"status": "admitted", "ticket": "s1.9999999999.aaaaaaaaaaaaaaaaaaaaaa",
                "renew_after_s": 600,
                "playlist_url": "http://127.0.0.1:1/live/sp/t/s1.9999999999.x/master.m3u8"}

    async def go() -> tuple[LoadReport, FakeOrigin]:
        origin = await FakeOrigin().start()
        origin.scripts["/api/spaces/sp/join"] = [
            answer(503, {"error": "overloaded"}, {"Retry-After": "1"}),
            answer(202, {"status": "waiting", "token": "tok", "position": 3,
                         "poll_after_s": 1.0}),
            answer(428, {"error": "proof_of_work_required", "challenge": "c.4.n.m",
                         "difficulty": 4}),
            answer(200, admitted)]
        try:
            return await run_load(LoadConfig(target=origin.url, space="sp", listeners=1,
                                             duration_s=4.0, seed=5)), origin
        finally:
            await origin.close()

    report, origin = asyncio.run(go())
    joins = [json.loads(b) for p, b in origin.bodies if p == "/api/spaces/sp/join"]
    assert joins[:3] == [{}, {}, {"token": "tok"}]
    assert joins[3]["challenge"] == "c.4.n.m" and joins[3]["solution"].isdigit()
    assert len(joins) == 4
    assert report.admitted == 1 and report.waited_in_line == 1
    assert report.errors == {"join:503": 1}
    assert report.events["proof_of_work"] == 1
    # admitted: the media is asked of our target, under the ticketed path it was given
    assert "/live/sp/t/s1.9999999999.x/master.m3u8" in origin.paths
    assert report.listeners_by_state == {"done": 1}  # never on air: still trying at the end
    assert ("/api/spaces/sp/leave", b'{"ticket": "s1.9999999999.aaaaaaaaaaaaaaaaaaaaaa", '
            b'"seat_secret": ""}') in origin.bodies  # the fake origin gave no seat secret


def test_a_listener_joins_with_the_details_grant_and_falls_back_when_it_is_refused() -> None:
    admitted = {"status": "admitted", "ticket": "s1.9999999999.aaaaaaaaaaaaaaaaaaaaaa",
                "renew_after_s": 600,
                "playlist_url": "http://127.0.0.1:1/live/sp/t/s1.9999999999.x/master.m3u8"}
    details = {"id": "sp", "join_grant": "g1.sp.9999999999.120.aaaaaaaaaaaaaaaaaaaaaa"}

    async def go(admit_status: int) -> tuple[LoadReport, FakeOrigin]:
        origin = await FakeOrigin().start()
        origin.routes = {"/api/spaces/sp": json.dumps(details).encode(),
                         "/api/spaces/sp/join": json.dumps(admitted).encode()}
        origin.scripts["/api/admit/sp"] = [(admit_status, json.dumps(
            admitted if admit_status == 200 else {"error": "bad_grant"}).encode(), {})]
        try:
            return await run_load(LoadConfig(target=origin.url, space="sp", listeners=1,
                                             duration_s=1.5, seed=3)), origin
        finally:
            await origin.close()

    report, origin = asyncio.run(go(200))
    admits = [json.loads(b) for p, b in origin.bodies if p == "/api/admit/sp"]
    assert admits == [{"grant": details["join_grant"]}]
    assert "/api/spaces/sp/join" not in origin.paths
    assert report.admitted == 1 and report.events["joined_with_grant"] == 1

    report, origin = asyncio.run(go(403))
    assert origin.paths.count("/api/admit/sp") == 1  # refused once: no more grants
    assert "/api/spaces/sp/join" in origin.paths
    assert report.admitted == 1 and report.events["grant_refused"] == 1
