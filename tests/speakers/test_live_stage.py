"""End to end: aiortc WHIP clients speak in a real `townhall serve`; listeners follow LL-HLS.

The host publishes a 440 Hz tone with the host key, an invited speaker 880 Hz with a speaker
token. Listeners must hear both in the program; each speaker must hear the other (mix-minus)
and not themselves.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import numpy as np
import pytest

from harness.server import Server
from harness.whip_client import WhipClient
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


def stage(server: Server, space_id: str) -> dict[str, Any]:
    return details(server, space_id)


def on_stage(server: Server, space_id: str) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in stage(server, space_id)["speakers"]}


async def host_and_guest(server: Server) -> tuple[dict[str, Any], dict[str, Any], WhipClient,
                                                  WhipClient]:
    space = server.create_space(title="Two voices", host="Ada")
    guest = invite(server, space, "Grace")
    a = WhipClient(server.base_url, space["id"], space["host_key"], 440)
    b = WhipClient(server.base_url, space["id"], guest["token"], 880)
    await asyncio.gather(a.publish(), b.publish())
    # both hear each other before the test starts
    await eventually(lambda: hears(a.recent(0.3), 880) and hears(b.recent(0.3), 440), 8)
    return space, guest, a, b


def test_two_speakers_are_mixed_for_listeners_and_each_hears_only_the_other(
        stage_server: Server) -> None:
    async def scenario() -> None:
        space, guest, a, b = await host_and_guest(stage_server)
        tail = HlsTail(stage_server, space["id"])
        await tail.run(2.5)
        # listeners: the program carries both voices
        program = tail.audio()
        assert len(program) > 48000, "less than a second of program followed"
        assert hears(program, 440, 0.2) and hears(program, 880, 0.2)
        # speakers: each hears the other, not themselves
        heard_by_a, heard_by_b = a.recent(1.0), b.recent(1.0)
        assert hears(heard_by_a, 880, 0.9) and not hears(heard_by_a, 440, 0.01)
        assert hears(heard_by_b, 440, 0.9) and not hears(heard_by_b, 880, 0.01)
        # the status says who is on stage and speaking
        doc = stage(stage_server, space["id"])
        assert {s["id"] for s in doc["speakers"]} == {"host", guest["id"]}
        assert set(doc["speaking"]) == {"host", guest["id"]}
        assert all(not s["muted"] for s in doc["speakers"])
        assert tail.errors == []
        await a.delete()
        await b.delete()

    asyncio.run(scenario())


@pytest.mark.timing  # real time, measured against a figure: runs alone
def test_mute_takes_a_speaker_out_of_the_mix_within_a_second(stage_server: Server) -> None:
    async def scenario() -> None:
        space, guest, a, b = await host_and_guest(stage_server)
        tail = HlsTail(stage_server, space["id"])
        following = asyncio.create_task(tail.run(3.5))
        await asyncio.sleep(1.0)
        muted_at = time.monotonic()
        res = await asyncio.to_thread(
            call, "POST",
            f"{stage_server.base_url}/api/spaces/{space['id']}/speakers/{guest['id']}/mute",
            headers=auth(space["host_key"]))
        assert res.status_code == 200, res.text
        assert res.json()["muted"] is True
        # the other speaker stops hearing the muted one within a second
        gone = await eventually(lambda: not hears(a.recent(0.1), 880, 0.1), 1.0, every=0.02)
        assert gone - muted_at < 1.0
        await following
        # listeners: every part published a second after the mute lacks the muted tone
        after = tail.audio(after=muted_at + 1.0)
        assert len(after) >= 48000
        assert not hears(after, 880, 0.02) and hears(after, 440, 0.9)
        assert hears(tail.audio(before=muted_at), 880, 0.2)
        # the muted speaker still hears the host, and the status shows the mute
        assert hears(b.recent(0.5), 440, 0.9)
        seat = on_stage(stage_server, space["id"])[guest["id"]]
        assert seat["muted"] is True and seat["speaking"] is False
        # a speaker muted by the host cannot unmute themselves; the host can
        url = f"{stage_server.base_url}/api/spaces/{space['id']}/speakers/{guest['id']}/unmute"
        refused = call("POST", url, headers=auth(guest["token"]))
        assert refused.status_code == 403 and refused.json()["error"] == "muted_by_host"
        assert call("POST", url, headers=auth(space["host_key"])).status_code == 200
        await eventually(lambda: hears(a.recent(0.2), 880), 2.0)
        await a.delete()
        await b.delete()

    asyncio.run(scenario())


def test_removing_a_speaker_closes_their_session_and_revokes_their_link(
        stage_server: Server) -> None:
    async def scenario() -> None:
        space, guest, a, b = await host_and_guest(stage_server)
        res = call("DELETE",
                   f"{stage_server.base_url}/api/spaces/{space['id']}/speakers/{guest['id']}",
                   headers=auth(space["host_key"]))
        assert res.status_code == 200 and res.json()["state"] == "removed"
        # their WebRTC session is closed by the server (DTLS close reaches the client)
        assert b.pc is not None
        await eventually(lambda: b.pc is not None and b.pc.connectionState == "closed", 3)
        assert guest["id"] not in on_stage(stage_server, space["id"])
        await eventually(lambda: not hears(a.recent(0.1), 880, 0.1), 1.0)
        # the WHIP session is gone (a DELETE racing its end still succeeds, RFC 9725 §4.2),
        # and the link no longer publishes
        async with httpx.AsyncClient(timeout=10) as client:
            gone = await client.delete(f"{stage_server.base_url}{b.location}",
                                       headers=auth(guest["token"]))
        assert gone.status_code == 200
        again = WhipClient(stage_server.base_url, space["id"], guest["token"], 880)
        refused = await again.post_offer()
        assert refused.status_code == 403 and refused.json()["error"] == "removed"
        await b.close()
        await a.delete()

    asyncio.run(scenario())


@pytest.mark.timing  # real time, measured against a figure: runs alone
def test_a_dropped_speaker_leaves_the_mix_within_two_seconds_and_can_rejoin(
        stage_server: Server) -> None:
    async def scenario() -> None:
        space, guest, a, b = await host_and_guest(stage_server)
        third = invite(stage_server, space, "Edsger")
        c = WhipClient(stage_server.base_url, space["id"], third["token"], 660)
        await c.publish()
        await eventually(lambda: hears(a.recent(0.3), 660, 0.2), 5)
        sid = space["id"]
        # B closes its peer connection without DELETE; C's network goes silent (no RTP at all)
        dropped_at = time.monotonic()
        await b.close()
        assert c.track is not None
        c.track.stall()
        left_b = await eventually(lambda: guest["id"] not in on_stage(stage_server, sid), 2.5,
                                  every=0.1)
        left_c = await eventually(lambda: third["id"] not in on_stage(stage_server, sid), 2.5,
                                  every=0.1)
        assert left_b - dropped_at < 2.0 and left_c - dropped_at < 2.0
        # out of the mix within 2 s of the drop: what the mixer held of them is played out
        # (never cut), so A's last 0.3 s may still carry them briefly after they left
        await eventually(lambda: not hears(a.recent(0.3), 880, 0.05)
                         and not hears(a.recent(0.3), 660, 0.05),
                         max(0.05, dropped_at + 2.0 + 0.3 + 0.1 - time.monotonic()))
        # B rejoins with the same link
        b2 = WhipClient(stage_server.base_url, sid, guest["token"], 880)
        await b2.publish()
        await eventually(lambda: hears(a.recent(0.3), 880), 5)
        assert on_stage(stage_server, sid)[guest["id"]]["state"] == "live"
        await c.close()
        # everyone leaves: the program keeps going, carrying silence
        await b2.delete()
        await a.delete()
        empty = await eventually(lambda: on_stage(stage_server, sid) == {}, 2, every=0.1)
        tail = HlsTail(stage_server, sid)
        await tail.run(2.0)
        quiet = tail.audio(after=empty + 0.5)  # parts mixed once everyone had left
        assert len(quiet) >= 0.9 * 48000, "the program stopped when the speakers left"
        assert float(np.sqrt(np.mean(np.square(quiet)))) < 1e-3
        assert stage(stage_server, sid)["on_air"] is True and tail.errors == []

    asyncio.run(scenario())


def test_ending_the_space_closes_every_speaker_session(stage_server: Server) -> None:
    async def scenario() -> None:
        space, guest, a, b = await host_and_guest(stage_server)
        ended = await asyncio.to_thread(stage_server.end_space, space)
        assert ended.status_code == 200
        await eventually(lambda: all(c.pc is not None and c.pc.connectionState == "closed"
                                     for c in (a, b)), 3)
        assert stage(stage_server, space["id"])["speakers"] == []
        late = WhipClient(stage_server.base_url, space["id"], guest["token"])
        res = await late.post_offer()
        assert res.status_code == 409 and res.json()["error"] == "space_ended"
        await a.close()
        await b.close()

    asyncio.run(scenario())
