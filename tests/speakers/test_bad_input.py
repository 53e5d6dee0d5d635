"""Bad WHIP and stage requests get clear JSON errors while the live mix keeps running."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx
import pytest

from harness.server import Server
from harness.whip_client import WhipClient
from tests.speakers.conftest import SPEAKER_CAP
from tests.speakers.stage_helpers import (
    HlsTail,
    auth,
    call,
    details,
    eventually,
    hears,
    invite,
)

pytestmark = pytest.mark.slow


def refused(res: httpx.Response, status: int, code: str) -> None:
    assert res.status_code == status, res.text
    assert res.headers["content-type"].startswith("application/json")
    body = res.json()
    assert body["error"] == code and body["detail"], body
    assert res.headers["access-control-allow-origin"] == "*"  # a page elsewhere can read it


@pytest.mark.timing  # real time, measured against a figure: runs alone
def test_bad_whip_requests_get_clear_json_errors_and_the_mix_keeps_running(
        stage_server: Server) -> None:
    base = stage_server.base_url
    space = stage_server.create_space(title="Under fire", host="Ada")
    other = stage_server.create_space(title="Elsewhere", host="Bob")
    sid = space["id"]
    s1, s2, s3 = (invite(stage_server, space, name) for name in ("One", "Two", "Three"))
    foreign = invite(stage_server, other, "Stranger")

    async def post(body: str, token: str | None, *, space_id: str = sid,
                   content_type: str = "application/sdp") -> httpx.Response:
        headers = {"Content-Type": content_type, **(auth(token) if token else {})}
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(f"{base}/whip/{space_id}", content=body, headers=headers)

    async def scenario() -> None:
        host = WhipClient(base, sid, space["host_key"], 440)
        one = WhipClient(base, sid, s1["token"], 880)
        two = WhipClient(base, sid, s2["token"], 660)
        await asyncio.gather(host.publish(), one.publish(), two.publish())
        await eventually(lambda: hears(host.recent(0.3), 880, 0.2), 8)
        tail = HlsTail(stage_server, sid)
        following = asyncio.create_task(tail.run(4.0))
        valid = WhipClient(base, sid, s3["token"])

        refused(await post("hello, I am not SDP", s3["token"]), 400, "malformed_sdp")
        refused(await post("v=0\r\nm=audio banana\r\n", s3["token"]), 400, "malformed_sdp")
        refused(await post("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", s3["token"]),
                422, "no_audio")
        refused(await post("v=0", s3["token"], content_type="text/plain"), 415,
                "unsupported_media_type")
        refused(await post("v=0", foreign["token"]), 403, "wrong_space")
        refused(await post("v=0", "th1.x.y.s.zzz"), 401, "bad_token")
        refused(await post("v=0", "not-the-host-key"), 401, "bad_token")
        refused(await post("v=0", None), 401, "missing_token")
        refused(await post("v=0", s3["token"], space_id="nosuchspace"), 404, "space_not_found")
        refused(await post("v=0" + "x" * 70_000, s3["token"]), 413, "body_too_large")
        # the stage holds SPEAKER_CAP (host + two): a fourth valid offer is refused
        assert SPEAKER_CAP == 3
        refused(await valid.post_offer(), 409, "stage_full")
        # a second publish with a token already live
        again = WhipClient(base, sid, s1["token"])
        refused(await again.post_offer(), 409, "already_live")
        async with httpx.AsyncClient(timeout=10) as client:
            session = f"{base}{one.location}"
            refused(await client.patch(session, content="a=candidate:1",
                                       headers=auth(s1["token"])), 405, "method_not_allowed")
            refused(await client.delete(session, headers=auth(s2["token"])), 403, "not_allowed")
            refused(await client.delete(f"{base}/whip/{sid}/session/nope",
                                        headers=auth(s1["token"])), 404, "session_not_found")
            pre = await client.options(f"{base}/whip/{sid}")
            assert pre.status_code == 204 and pre.headers["accept-post"] == "application/sdp"
            assert "Authorization" in pre.headers["access-control-allow-headers"]
            # PATCH (trickle ICE) answers 405, so Allow never lists it; the CORS preflight
            # lets it through so that a page on another site reads that 405
            pre = await client.options(session, headers={
                "Origin": "https://other.example", "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "authorization, content-type, if-match"})
            assert "PATCH" in pre.headers["access-control-allow-methods"]
            assert "If-Match" in pre.headers["access-control-allow-headers"]
            assert "PATCH" not in pre.headers["allow"]
            patched = await client.patch(session, content="a=end-of-candidates\r\n", headers={
                **auth(s1["token"]), "Origin": "https://other.example", "If-Match": "*",
                "Content-Type": "application/trickle-ice-sdpfrag"})
            assert patched.status_code == 405 and "PATCH" not in patched.headers["allow"]
            assert patched.headers["access-control-allow-origin"] == "*"

        await following
        # the mix ran through it all: parts kept coming, every one carrying the host
        assert tail.errors == [] and len(tail.parts) >= 10
        arrivals = [t for t, _ in tail.parts]
        assert max(b - a for a, b in itertools.pairwise(arrivals)) < 1.0
        program = tail.audio()
        assert hears(program, 440, 0.2) and hears(program, 880, 0.1)
        assert hears(host.recent(0.3), 880, 0.2) and hears(one.recent(0.3), 440, 0.2)
        live = {s["id"] for s in details(stage_server, sid)["speakers"]}
        assert live == {"host", s1["id"], s2["id"]}
        for client in (host, one, two):
            await client.delete()

    asyncio.run(scenario())


def test_a_raised_hand_goes_live_once_the_host_approves(stage_server: Server) -> None:
    base = stage_server.base_url
    space = stage_server.create_space(title="Questions", host="Ada")
    sid = space["id"]
    res = call("POST", f"{base}/api/spaces/{sid}/hands", json={"name": "Curious"})
    assert res.status_code == 201, res.text
    hand: dict[str, Any] = res.json()
    assert hand["state"] == "raised" and hand["role"] == "listener"
    assert details(stage_server, sid)["raised_hands"] == 1

    async def scenario() -> None:
        waiting = WhipClient(base, sid, hand["token"])
        refused(await waiting.post_offer(), 403, "not_approved")
        # only the host (or a co-host) approves
        url = f"{base}/api/spaces/{sid}/speakers/{hand['id']}/approve"
        assert call("POST", url, headers=auth(hand["token"])).status_code == 403
        ok = call("POST", url, headers=auth(space["host_key"]))
        assert ok.status_code == 200 and ok.json()["state"] == "invited"
        me = call("GET", f"{base}/api/spaces/{sid}/speakers/me", headers=auth(hand["token"]))
        assert me.json()["role"] == "speaker" and me.json()["whip_url"].endswith(f"/whip/{sid}")
        speaker = WhipClient(base, sid, hand["token"], 880)
        await speaker.publish()
        await eventually(lambda: hand["id"] in {s["id"] for s in
                                                details(stage_server, sid)["speakers"]}, 3,
                         every=0.1)
        listing = call("GET", f"{base}/api/spaces/{sid}/speakers",
                       headers=auth(space["host_key"])).json()
        assert {s["id"]: s["state"] for s in listing["seats"]}[hand["id"]] == "live"
        assert listing["speaker_cap"] == SPEAKER_CAP
        await speaker.delete()
        await eventually(lambda: details(stage_server, sid)["speakers"] == [], 3, every=0.1)

    asyncio.run(scenario())
