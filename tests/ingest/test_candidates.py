"""WHIP offers cannot turn the origin into a reflector: remote candidates are counted and
screened before any parser runs, and a real origin sends nothing to screened addresses."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from harness.server import Server, start_server, stop_server
from harness.whip_client import ToneTrack
from townhall.ingest.candidates import TooManyCandidates, parse_networks, screen

OFFER = ("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
         "a=candidate:1 1 udp 2130706431 {addr} 40000 typ host\r\n")


@pytest.mark.parametrize("addr,kept", [
    ("8.8.8.8", True), ("2001:4860:4860::8888", True), ("10.1.2.3", False),
    ("192.168.1.5", False), ("127.0.0.1", False), ("224.0.0.251", False),
    ("169.254.1.1", False), ("0.0.0.0", False), ("fe80::1", False), ("ff02::1", False),
    ("abcd-1234.local", False), ("100.64.0.1", False), ("240.0.0.1", False),
])
def test_only_global_unicast_candidates_are_kept(addr: str, kept: bool) -> None:
    out = screen(OFFER.format(addr=addr), 20, [])
    assert (out.kept, out.dropped) == ((1, 0) if kept else (0, 1))
    assert (addr in out.sdp) is kept


def test_configured_networks_are_kept_and_the_count_is_capped() -> None:
    assert screen(OFFER.format(addr="127.0.0.1"), 20, parse_networks("127.0.0.0/8")).kept == 1
    many = "v=0\r\n" + "".join(f"a=candidate:1 1 udp 1 8.8.8.{i} 1 typ host\r\n"
                               for i in range(21))
    with pytest.raises(TooManyCandidates, match="21 ICE candidates"):
        screen(many, 20, [])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("whip") / "data", "--attack-mode", "off",
                       "--set", "ice_host_addresses=127.0.0.1",
                       "--set", "whip_candidate_networks=127.0.0.1/32")
    yield srv
    stop_server(srv)


async def real_offer() -> str:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver(ToneTrack(440), direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    sdp: str = pc.localDescription.sdp
    await pc.close()
    return sdp


def with_candidates(sdp: str, lines: list[str]) -> str:
    head, sep, tail = sdp.partition("a=end-of-candidates")
    extra = "".join(line + "\r\n" for line in lines)
    return head + extra + sep + tail if sep else sdp + extra


@pytest.mark.slow
def test_an_offer_naming_third_parties_makes_the_origin_send_them_nothing(
        server: Server, tmp_path: Path) -> None:
    space = server.create_space(title="Reflect")
    url = f"{server.base_url}/whip/{space['id']}"
    headers = {"Content-Type": "application/sdp", "Authorization": f"Bearer {space['host_key']}"}
    sdp = asyncio.run(real_offer())
    # 499 candidates: refused before anything is parsed
    flood = with_candidates(sdp, [f"a=candidate:{i} 1 udp 1 8.8.{i // 250}.{i % 250} 9 typ "
                                  "host" for i in range(499)])
    res = httpx.post(url, content=flood, headers=headers, timeout=10)
    assert res.status_code == 400 and res.json()["error"] == "too_many_candidates"
    # third parties (here loopback addresses the origin was not told to allow) hear nothing
    sinks = []
    for i in range(2, 8):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((f"127.0.0.{i}", 0))
        s.setblocking(False)
        sinks.append(s)
    try:
        named = [f"a=candidate:9{i} 1 udp 2130706431 {s.getsockname()[0]} "
                 f"{s.getsockname()[1]} typ host" for i, s in enumerate(sinks)]
        res = httpx.post(url, content=with_candidates(sdp, named), headers=headers, timeout=20)
        assert res.status_code == 201, res.text
        deadline = time.monotonic() + 4  # ICE checks start at once and repeat
        received = 0
        while time.monotonic() < deadline:
            for s in sinks:
                try:
                    s.recv(2048)
                    received += 1
                except BlockingIOError:
                    pass
            time.sleep(0.05)
        assert received == 0
        httpx.delete(f"{server.base_url}{res.headers['location']}",
                     headers={"Authorization": f"Bearer {space['host_key']}"}, timeout=10)
    finally:
        for s in sinks:
            s.close()


@pytest.mark.slow
@pytest.mark.parametrize("brk", ["\r", "\x85", "\u2028", "\v"])
def test_an_offer_hiding_candidates_behind_other_line_breaks_is_refused_by_a_real_origin(
        server: Server, brk: str) -> None:
    """Screen what the parser reads: a real offer whose candidate flood is joined by a line
    break only aiortc's parser splits on is refused before any ICE agent runs."""
    space = server.create_space(title="hidden flood")
    sdp = asyncio.run(real_offer())
    hidden = brk.join(f"a=candidate:{i} 1 udp 1 127.0.0.{2 + i % 200} {40000 + i} typ host"
                      for i in range(300))
    res = httpx.post(f"{server.base_url}/whip/{space['id']}",
                     content=with_candidates(sdp, [hidden]).encode(),
                     headers={"Content-Type": "application/sdp",
                              "Authorization": f"Bearer {space['host_key']}"}, timeout=10)
    assert res.status_code == 400 and res.json()["error"] == "ambiguous_line_breaks", res.text
