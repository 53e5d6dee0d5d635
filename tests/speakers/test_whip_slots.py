"""WHIP sessions pay for a program slot with audio, not with a session: issued keys holding
real WebRTC sessions (aiortc offers, ICE and DTLS up on loopback) that send no audio hold no
slot, so the operator goes live past them; a session's first audio asks for a slot and is
ended if none is free; past `ingest_provisional_max` the oldest silent session is cut off."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from harness.server import Server, push_tone, start_server, stop_process, stop_server
from harness.whip_client import WhipClient
from tests.speakers.stage_helpers import details, eventually

pytestmark = pytest.mark.slow
UPPER, RESERVED, PROVISIONAL_MAX = 3, 1, 5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("whip-slots") / "data", "--attack-mode", "off",
                       "--set", "ice_host_addresses=127.0.0.1",
                       "--set", "whip_candidate_networks=127.0.0.0/8",
                       "--set", f"live_programs_per_origin={UPPER}",
                       "--set", f"live_programs_reserved={RESERVED}",
                       "--set", f"ingest_provisional_max={PROVISIONAL_MAX}",
                       # the count is under test, not the measured lag of a loaded machine
                       "--set", "program_lag_budget_s=30",
                       "--set", "whip_setup_timeout_s=60")
    yield srv
    stop_server(srv)


def issued_spaces(server: Server, n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        res = httpx.post(f"{server.base_url}/api/admin/keys", json={"name": f"whip {i}"},
                         headers=server.hosting_headers(), timeout=10)
        assert res.status_code == 201, res.text
        out.append(server.create_space(api_key=res.json()["key"], title=f"hostile {i}"))
    return out


def counter(server: Server, name: str, **labels: str) -> float:
    text = httpx.get(f"{server.base_url}/metrics", headers=server.hosting_headers(),
                     timeout=10).text
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    m = re.search(rf"^{name}\{{{want}\}} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def live_speakers(server: Server, space_id: str) -> list[str]:
    return [s["id"] for s in details(server, space_id)["speakers"]]


async def silent_sessions(server: Server, spaces: list[dict[str, Any]]) -> list[WhipClient]:
    clients = [WhipClient(server.base_url, doc["id"], doc["host_key"], held=True)
               for doc in spaces]
    for c in clients:  # one at a time: the order decides which is oldest
        await c.publish()
    await asyncio.gather(*(c.wait_connected(15) for c in clients))
    return clients


def test_silent_whip_sessions_with_issued_keys_hold_no_slot_and_audio_asks_for_one(
        server: Server) -> None:
    async def scenario() -> None:
        hostile = issued_spaces(server, UPPER + 1)  # more silent sessions than slots
        clients = await silent_sessions(server, hostile)
        push = None
        operator: dict[str, Any] = {}
        try:
            assert all(live_speakers(server, doc["id"]) == ["host"] for doc in hostile)
            operator = server.create_space(title="operator")
            push = push_tone(operator["ingest_url"], 30)
            await asyncio.to_thread(server.wait_on_air, operator["id"], 25)
            refused = counter(server, "townhall_whip_sessions_refused_at_audio_total",
                              reason="origin_full")
            # audio takes a slot: one more hosted space fits below the operator's reserve
            first, second = clients[0], clients[1]
            assert first.track is not None and second.track is not None
            first.track.speak()
            await asyncio.to_thread(server.wait_on_air, hostile[0]["id"], 25)
            second.track.speak()  # ... and the next one's audio is refused its slot
            await eventually(lambda: live_speakers(server, hostile[1]["id"]) == [], 15, 0.2)
            assert not details(server, hostile[1]["id"])["on_air"]
            assert counter(server, "townhall_whip_sessions_refused_at_audio_total",
                           reason="origin_full") == refused + 1
            # the silent ones are still connected, still holding nothing
            assert all(live_speakers(server, doc["id"]) == ["host"] for doc in hostile[2:])
        finally:
            if push is not None:
                stop_process(push)
            for c in clients:  # DELETE: the next test starts with no session waiting
                await c.delete()
            for doc in [*hostile, *([operator] if push is not None else [])]:
                server.end_space(doc)  # ... and no program on air

    asyncio.run(scenario())


def test_past_the_provisional_bound_the_oldest_silent_session_is_cut_off(
        server: Server) -> None:
    async def scenario() -> None:
        # the previous test's sessions leave within whip_setup_timeout_s or at once
        spaces = issued_spaces(server, PROVISIONAL_MAX + 1)
        before = counter(server, "townhall_whip_sessions_evicted_total",
                         reason="evicted_no_audio")
        t0 = time.monotonic()
        clients = await silent_sessions(server, spaces)
        try:
            oldest = spaces[0]["id"]
            await eventually(lambda: live_speakers(server, oldest) == [], 10, 0.2)
            assert counter(server, "townhall_whip_sessions_evicted_total",
                           reason="evicted_no_audio") >= before + 1
            assert all(live_speakers(server, doc["id"]) == ["host"] for doc in spaces[2:])
            assert time.monotonic() - t0 < 30
        finally:
            for c in clients:
                await c.delete()

    asyncio.run(scenario())
