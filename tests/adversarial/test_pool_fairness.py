"""Per-pool fairness (issue 18, docs/threat-model.md): for each finite pool an outsider can
reach, one address or one network tries to fill it in several shapes while a legitimate client
on another network is still served.

- ingest connections (per /24, and the whole pool): idle sockets, trickled heads, wrong keys,
  unknown spaces; a real ffmpeg source from another network still goes on air;
- the seats and waiting line of a capped space (per network): page joins and player GETs from
  one address, from a whole /24, from a /64; another network's listener gets a seat or a
  place in line;
- the player start budget (per address, per network): one address, or a /24, at the entry URL;
  another network's player is admitted;
- WHIP sessions (per network, and the whole pool): offers that never bring audio from one /24
  or from six, and sessions with audio from one /24; another network's speaker goes on air;
  and the operator's reserve: attackers fill every slot anyone may take, from many /24s,
  with silent offers or with audio; the operator's host still goes on air (with our WHIP
  client, and from its own host page in Chromium).
(Clip signing: tests/adversarial/test_clip_spellings.py.)

One origin; the tests are its trusted edge (X-Real-IP names who asks) except on the ingest
port and for WHIP offers, where each socket is bound to its own loopback address. Bounded:
each try < 15 s (WHIP: < 40 s, two segments on air included)."""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from harness.server import Server, push_tone, start_server, stop_process, stop_server
from harness.whip_client import WhipClient
from tests.adversarial.report import tally
from tests.browser.conftest import chromium
from tests.browser.test_speakers_browser import MEDIA_ARGS
from tests.speakers.stage_helpers import auth, call, eventually, invite

pytestmark = [pytest.mark.adversarial, pytest.mark.slow]
POOL, PER_NETWORK = 48, 8  # ingest connections, in all and per /24
CAP = 20  # a capped space's seats; one network's share is 16 (seats_per_network_min)
SHARE = 16
STARTS = 32  # player_starts_burst_per_address
WHIP_POOL, WHIP_SHARE = 8, 3  # WHIP sessions, in all and per /24
WHIP_RESERVE = 3  # of WHIP_POOL, the operator's (whip_operator_reserved)


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("fairness") / "data", "--attack-mode", "off",
                       "--set", f"ingest_max_connections={POOL}",
                       "--set", f"ingest_connections_per_network={PER_NETWORK}",
                       "--set", "ingest_header_timeout_s=10",
                       "--set", "shed_lag_scale=20",
                       # WHIP: ICE on loopback only; attackers' silent sessions stay for the
                       # whole try; the count is under test, not a loaded machine's lag
                       "--set", "ice_host_addresses=127.0.0.1",
                       "--set", "whip_candidate_networks=127.0.0.0/8",
                       "--set", f"whip_max_sessions={WHIP_POOL}",
                       "--set", f"whip_sessions_per_network={WHIP_SHARE}",
                       "--set", f"whip_operator_reserved={WHIP_RESERVE}",
                       "--set", "whip_setup_timeout_s=60", "--set", "speaker_cap=40",
                       "--set", "program_lag_budget_s=30",
                       "--set", "api_burst_per_address=5000")
    yield srv
    stop_server(srv)


def within(seconds: float) -> Callable[[], None]:
    start = time.monotonic()

    def check() -> None:
        assert time.monotonic() - start < seconds, f"took {time.monotonic() - start:.1f} s"
    return check


# --- ingest connections -------------------------------------------------------------------

def _attack_bytes(shape: str, space_id: str) -> bytes:
    if shape == "silent":
        return b""
    if shape == "trickled head":
        return b"PUT /ingest/"
    if shape == "wrong key":
        auth = base64.b64encode(b"source:not-the-key").decode()
        return (f"PUT /ingest/{space_id} HTTP/1.1\r\nAuthorization: Basic {auth}\r\n"
                "Content-Type: audio/aac\r\n\r\n").encode()
    if shape == "unknown space":
        return b"PUT /ingest/nosuchspace HTTP/1.1\r\nContent-Type: audio/aac\r\n\r\n"
    return b"\x16\x03\x01\x02\x00" + b"\x00" * 64  # a TLS hello on a plain port


INGEST_SHAPES = [(shape, spread) for shape in ("silent", "trickled head", "wrong key",
                                               "unknown space", "garbage")
                 for spread in ("one /24", "six /24s")]


@pytest.mark.parametrize(("shape", "spread"), INGEST_SHAPES)
def test_ingest_pool_one_network_cannot_keep_another_networks_source_out(
        origin: Server, shape: str, spread: str) -> None:
    doc = origin.create_space(title=f"ingest {shape} {spread}")
    nets = 1 if spread == "one /24" else 6
    sources = [f"127.0.{10 + n}.{h}" for n in range(nets) for h in range(2, 2 + 3 * POOL // nets)]
    socks: list[socket.socket] = []
    push = None
    done = within(15)

    def check() -> None:
        nonlocal push
        payload = _attack_bytes(shape, doc["id"])
        for source in sources:
            with suppress(OSError):
                s = socket.create_connection(("127.0.0.1", origin.ingest_port), timeout=2,
                                             source_address=(source, 0))
                if payload:
                    s.sendall(payload)
                socks.append(s)
        push = push_tone(doc["ingest_url"], 15)  # from 127.0.0.1: another network
        origin.wait_on_air(doc["id"], timeout=12)
        done()

    try:
        tally(f"ingest pool: {shape}, {spread}", check)
    finally:
        if push is not None:
            stop_process(push)
        for s in socks:
            s.close()


# --- seats and the waiting line of a capped space ----------------------------------------

HTTP = httpx.Client(timeout=10)  # one kept-alive connection: the addresses are X-Real-IP's


def _join(origin: Server, sid: str, address: str) -> int:
    return HTTP.post(f"{origin.base_url}/api/spaces/{sid}/join", json={},
                     headers={"X-Real-IP": address}).status_code


def _entry(origin: Server, sid: str, address: str) -> int:
    return HTTP.get(f"{origin.base_url}/live/{sid}/master.m3u8", follow_redirects=False,
                    headers={"X-Real-IP": address}).status_code


SEAT_SHAPES = [(kind, spread) for kind in ("page joins", "player GETs")
               for spread in ("one address", "a /24", "a /64")]


def _addresses(spread: str, n: int, net: int) -> list[str]:
    """`n` requests' addresses: one, many of one /24, or many of one /64 (`net` picks which:
    every try has its own attacker, as budgets outlive a test)."""
    if spread == "one address":
        return [f"203.0.{net}.9"] * n
    if spread == "a /24":
        return [f"203.0.{net}.{10 + i % 200}" for i in range(n)]
    return [f"2001:db8:{net:x}:2::{i + 1:x}" for i in range(n)]


@pytest.mark.parametrize(("kind", "spread"), SEAT_SHAPES)
def test_seats_one_network_fills_only_its_share_of_a_capped_space(
        origin: Server, kind: str, spread: str) -> None:
    sid = origin.create_space(title=f"capped {kind} {spread}", listener_cap=CAP)["id"]
    ask = _join if kind == "page joins" else _entry
    done = within(15)

    def check() -> None:
        net = SEAT_SHAPES.index((kind, spread))
        got = Counter(ask(origin, sid, a) for a in _addresses(spread, 3 * CAP, net))
        admitted = got[200] + got[302]
        assert admitted <= SHARE, got  # never more than the network's share
        assert set(got) <= {200, 302, 202, 429, 503}, got  # answered, never an error
        others = [ask(origin, sid, f"198.51.{i}.7") for i in range(CAP - SHARE)]
        assert all(code in (200, 302) for code in others), others  # a seat each
        late = _join(origin, sid, "192.0.2.77")  # the room is full now: a place in line
        assert late in (200, 202), late
        done()

    tally(f"seats: {kind} from {spread}", check)


# --- the player start budget ---------------------------------------------------------------

@pytest.mark.parametrize("spread", ["one address", "a /24"])
def test_player_starts_one_address_or_network_cannot_spend_anothers_budget(
        origin: Server, spread: str) -> None:
    sid = origin.create_space(title=f"open {spread}")["id"]
    done = within(15)

    def check() -> None:
        n = STARTS + 40 if spread == "one address" else 240
        began = time.monotonic()
        got = Counter(_entry(origin, sid, a) for a in _addresses(spread, n, 100 + len(spread)))
        refilled = int(time.monotonic() - began) + 1  # join_rate_per_address: 1 start/s
        assert set(got) <= {302, 429}, got
        if spread == "one address":  # its own budget ran out, and no more than that
            assert STARTS <= got[302] <= STARTS + refilled and got[429] > 0, got
        other = [_entry(origin, sid, f"198.51.100.{i + 1}") for i in range(5)]
        assert other == [302] * 5, other
        done()

    tally(f"player starts: from {spread}", check)


# --- WHIP sessions ----------------------------------------------------------------------

async def _offer_sdp() -> tuple[RTCPeerConnection, str]:
    """A real aiortc offer (host candidates on 127.0.0.1); its peer stays open and never
    hears the answer: the origin's session waits for audio that never comes."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("audio", direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


async def _post_offer(origin: Server, sid: str, token: str, sdp: str,
                      address: str) -> httpx.Response:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(timeout=20, transport=transport) as c:
        return await c.post(f"{origin.base_url}/whip/{sid}", content=sdp,
                            headers={"Content-Type": "application/sdp", **auth(token)})


def _whip_counter(origin: Server, name: str, reason: str) -> float:
    text = httpx.get(f"{origin.base_url}/metrics", headers=origin.hosting_headers(),
                     timeout=10).text
    m = re.search(rf'^townhall_whip_sessions_{name}_total{{reason="{reason}"}} (\S+)$', text,
                  re.M)
    return float(m.group(1)) if m else 0.0


# what each shape must have cost the attacker, as the origin counts it
WHIP_COUNTED = {"silent offers": ("evicted", "network_share"),
                "sessions with audio": ("refused", "network_share")}


def _issued_space(origin: Server, title: str) -> dict[str, Any]:
    """A space made with an API key the operator issued (a host, not the operator: its
    offers get no reserved WHIP session)."""
    res = httpx.post(f"{origin.base_url}/api/admin/keys", json={"name": title},
                     headers=origin.hosting_headers(), timeout=10)
    assert res.status_code == 201, res.text
    return origin.create_space(api_key=res.json()["key"], title=title)


def _live(origin: Server, sid: str) -> list[str]:
    doc = call("GET", f"{origin.base_url}/api/spaces/{sid}").json()
    return [s["id"] for s in doc["speakers"]]


WHIP_SHAPES = [("silent offers", "one /24"), ("sessions with audio", "one /24"),
               ("silent offers", "six /24s")]


@pytest.mark.parametrize(("shape", "spread"), WHIP_SHAPES)
def test_whip_sessions_one_network_cannot_keep_another_networks_speaker_off_the_air(
        origin: Server, shape: str, spread: str) -> None:
    net = 60 + 10 * WHIP_SHAPES.index((shape, spread))  # every try has its own attackers
    nets = 1 if spread == "one /24" else 6
    per_net = 3 * WHIP_SHARE if nets == 1 else WHIP_SHARE
    addresses = [f"127.0.{net + n}.{h}" for n in range(nets) for h in range(2, 2 + per_net)]
    hostile = _issued_space(origin, f"whip {shape} {spread}")
    legit = _issued_space(origin, f"whip speaker vs {shape} {spread}")  # not the operator
    tokens = [invite(origin, hostile, f"a{i}")["token"] for i in range(len(addresses) + 4)]
    done = within(40)

    async def attack() -> tuple[list[WhipClient], list[int], httpx.Response | None]:
        clients: list[WhipClient] = []
        codes: list[int] = []
        late = None
        if shape == "sessions with audio":  # the share, held with audio ...
            for token, address in zip(tokens, addresses[:WHIP_SHARE], strict=False):
                c = WhipClient(origin.base_url, hostile["id"], token, local_address=address)
                clients.append(c)
                await c.publish()
            await asyncio.to_thread(origin.wait_on_air, hostile["id"], 25)
            peer, sdp = await _offer_sdp()  # ... and one more offer from the same /24
            late = await _post_offer(origin, hostile["id"], tokens[WHIP_SHARE], sdp,
                                     addresses[WHIP_SHARE])
            await peer.close()
            return clients, codes, late
        peers = []
        for token, address in zip(tokens, addresses, strict=False):
            peer, sdp = await _offer_sdp()
            peers.append(peer)
            codes.append((await _post_offer(origin, hostile["id"], token, sdp,
                                            address)).status_code)
        for peer in peers:  # the attacker's peers go; the origin's sessions stay silent
            await peer.close()
        return clients, codes, late

    counted = WHIP_COUNTED[shape] if nets == 1 else ("evicted", "pool_full")
    before = _whip_counter(origin, *counted)

    async def scenario() -> None:
        clients, codes, late = await attack()
        speaker = WhipClient(origin.base_url, legit["id"], legit["host_key"])
        try:
            assert set(codes) <= {201, 429}, codes  # answered, never an error
            if late is not None:  # past the share, with audio held: a readable refusal
                assert late.status_code == 429, late.text
                assert late.json()["error"] == "network_share", late.text
                assert int(late.headers["retry-after"]) >= 1
            # one /24 holds no more than its share once the evicted sessions are ended
            if nets == 1:
                await eventually(lambda: len(_live(origin, hostile["id"])) <= WHIP_SHARE, 5,
                                 0.2)
            assert _whip_counter(origin, *counted) > before, counted  # counted, exported
            await speaker.publish()  # another network's speaker gets a session ...
            await asyncio.to_thread(origin.wait_on_air, legit["id"], 25)  # ... and is heard
            assert _live(origin, legit["id"]) == ["host"]
            # an attacker's next offer never takes the place of a speaker with audio
            peer, sdp = await _offer_sdp()
            again = await _post_offer(origin, hostile["id"], tokens[-1], sdp, addresses[0])
            await peer.close()
            assert again.status_code in (201, 429), again.text
            await asyncio.sleep(0.5)  # an eviction would end it within 0.25 s
            assert _live(origin, legit["id"]) == ["host"]
            done()
        finally:
            await speaker.close()
            for c in clients:
                await c.close()
            origin.end_space(hostile)
            origin.end_space(legit)

    tally(f"whip sessions: {shape}, {spread}", lambda: asyncio.run(scenario()))


OPERATOR_TRIES = [("silent offers", "aiortc"), ("sessions with audio", "aiortc"),
                  ("silent offers", "the host page")]


class HostPage:
    """The operator's host page in headless Chromium (fake microphone), going live with its
    own whip.js, held open in a thread of its own (Playwright's sync API) until closed."""

    def __init__(self, host_url: str, profile: Path) -> None:
        self.host_url, self.profile = host_url, profile
        self.clicked = threading.Event()
        self.done = threading.Event()
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            with chromium(self.profile, MEDIA_ARGS) as browser:
                page = browser.pages[0] if browser.pages else browser.new_page()
                page.goto(self.host_url)
                page.locator("#go-live").click()
                self.clicked.set()
                self.done.wait(60)
        except BaseException as exc:  # reported by close()
            self.failure = exc
            self.clicked.set()

    async def publish(self) -> None:
        self.thread.start()
        await asyncio.to_thread(self.clicked.wait, 60)
        if self.failure is not None:
            raise self.failure

    async def close(self) -> None:
        self.done.set()
        if self.thread.is_alive():
            await asyncio.to_thread(self.thread.join, 30)


@pytest.mark.parametrize(("shape", "client"), OPERATOR_TRIES)
def test_whip_sessions_attackers_filling_the_pool_never_keep_the_operator_off_the_air(
        origin: Server, shape: str, client: str, tmp_path: Path) -> None:
    """Attackers from many /24s (each within its share) fill every WHIP session anyone may
    take; the operator's host (a space made with the admin key) still goes on air, with a
    WHIP client of ours or from its own host page in Chromium: from the reserve, or, with the
    reserve held too, by ending an attacker's silent session."""
    net = 130 + 20 * OPERATOR_TRIES.index((shape, client))
    anyone = WHIP_POOL - WHIP_RESERVE
    silent = shape == "silent offers"
    nets = 4 if silent else anyone  # silent: 12 offers for 5 slots; audio: one per /24
    per_net = WHIP_SHARE if silent else 1
    addresses = [f"127.0.{net + n}.{h}" for n in range(nets) for h in range(2, 2 + per_net)]
    hostile = _issued_space(origin, f"whip reserve vs {shape}")
    operator = origin.create_space(title=f"the operator vs {shape}")  # the admin key's
    tokens = [invite(origin, hostile, f"a{i}")["token"] for i in range(len(addresses) + 2)]
    # the operator's own speakers hold the reserve with offers that bring no audio (silent)
    reserve = ([invite(origin, operator, f"op{i}")["token"] for i in range(WHIP_RESERVE)]
               if silent else [])
    elsewhere = f"127.0.{net + nets}.9"  # an attacker's fresh /24
    done = within(40)

    async def scenario() -> None:
        clients: list[WhipClient] = []
        peers: list[RTCPeerConnection] = []
        host: WhipClient | HostPage = (
            WhipClient(origin.base_url, operator["id"], operator["host_key"],
                       local_address=f"127.0.{net + nets + 1}.2") if client == "aiortc"
            else HostPage(operator["host_url"], tmp_path / "profile"))
        try:
            codes: list[int] = []
            if silent:  # the attackers' peers stay open: their sessions wait for audio
                for token, address in zip(tokens, addresses, strict=False):
                    peer, sdp = await _offer_sdp()
                    peers.append(peer)
                    codes.append((await _post_offer(origin, hostile["id"], token, sdp,
                                                    address)).status_code)
                assert set(codes) == {201}, codes  # each ended an older one of theirs
            else:
                for token, address in zip(tokens, addresses, strict=False):
                    c = WhipClient(origin.base_url, hostile["id"], token, local_address=address)
                    clients.append(c)
                    await c.publish()
                await asyncio.to_thread(origin.wait_on_air, hostile["id"], 25)
                await eventually(lambda: len(_live(origin, hostile["id"])) == anyone, 10, 0.2)
            # nobody but the operator takes the reserve: the next attacker offer, from a /24
            # holding nothing, ends one of theirs (silent) or is refused (audio)
            refused = _whip_counter(origin, "refused", "whip_full")
            peer, sdp = await _offer_sdp()
            peers.append(peer)
            late = await _post_offer(origin, hostile["id"], tokens[-2], sdp, elsewhere)
            if silent:
                assert late.status_code == 201, late.text
            else:
                assert late.status_code == 503, late.text
                assert late.json()["error"] == "whip_full", late.text
                assert int(late.headers["retry-after"]) >= 1
                assert _whip_counter(origin, "refused", "whip_full") > refused
            for i, token in enumerate(reserve):  # the reserve, held by the operator's own
                peer, sdp = await _offer_sdp()
                peers.append(peer)
                res = await _post_offer(origin, operator["id"], token, sdp,
                                        f"127.0.{net + nets + 2}.{2 + i}")
                assert res.status_code == 201, res.text
            evicted = _whip_counter(origin, "evicted", "operator")
            asked = time.monotonic()
            await host.publish()  # the operator's host gets a session ...
            await asyncio.to_thread(origin.wait_on_air, operator["id"], 25)  # ... is heard
            try:
                await eventually(lambda: "host" in _live(origin, operator["id"]), 10, 0.1)
            except AssertionError:
                said = [ln for ln in origin.log().splitlines() if "speaker" in ln][-8:]
                raise AssertionError(f"the host is not on stage: {_live(origin, operator['id'])}"
                                     f"; the origin said: {said}") from None
            print(f"the operator's host ({client}) on air {time.monotonic() - asked:.1f} s "
                  f"after going live, {shape} filling the pool")
            if silent:  # the pool was full: an attacker's silent session made the room
                assert _whip_counter(origin, "evicted", "operator") > evicted
            # an attacker's next offer never takes the place of the operator's sessions
            peer, sdp = await _offer_sdp()
            peers.append(peer)
            again = await _post_offer(origin, hostile["id"], tokens[-1], sdp, elsewhere)
            assert again.status_code in (201, 503), again.text
            await asyncio.sleep(0.5)  # an eviction would end it within 0.25 s
            assert "host" in _live(origin, operator["id"])
            done()
        finally:
            await host.close()
            for c in clients:
                await c.close()
            for p in peers:
                await p.close()
            origin.end_space(hostile)
            origin.end_space(operator)

    tally(f"whip sessions: the operator's reserve vs {shape} ({client})",
          lambda: asyncio.run(scenario()))
