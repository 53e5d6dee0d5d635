"""Per-pool fairness (issue 18, docs/threat-model.md): for each finite pool an outsider can
reach, one address or one network tries to fill it in several shapes while a legitimate client
on another network is still served.

- ingest connections (per /24, and the whole pool): idle sockets, trickled heads, wrong keys,
  unknown spaces; a real ffmpeg source from another network still goes on air;
- the seats and waiting line of a capped space (per network): page joins and player GETs from
  one address, from a whole /24, from a /64; another network's listener gets a seat or a
  place in line;
- the player start budget (per address, per network): one address, or a /24, at the entry URL;
  another network's player is admitted.
(Clip signing: tests/adversarial/test_clip_spellings.py.)

One origin; the tests are its trusted edge (X-Real-IP names who asks) except on the ingest
port, where each socket is bound to its own loopback address. Bounded: each try < 15 s."""

from __future__ import annotations

import base64
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import suppress

import httpx
import pytest

from harness.server import Server, push_tone, start_server, stop_process, stop_server
from tests.adversarial.report import tally

pytestmark = [pytest.mark.adversarial, pytest.mark.slow]
POOL, PER_NETWORK = 48, 8  # ingest connections, in all and per /24
CAP = 20  # a capped space's seats; one network's share is 16 (seats_per_network_min)
SHARE = 16
STARTS = 32  # player_starts_burst_per_address


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("fairness") / "data", "--attack-mode", "off",
                       "--set", f"ingest_max_connections={POOL}",
                       "--set", f"ingest_connections_per_network={PER_NETWORK}",
                       "--set", "ingest_header_timeout_s=10",
                       "--set", "shed_lag_scale=20")
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
