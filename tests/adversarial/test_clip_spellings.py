"""Clip paths at the origin (issue 18): every other spelling of a clip path (numbers with
zeros or signs, extra dots and dashes, a percent-encoded character anywhere, a query, another
case) is answered 4xx at once and costs none of the per-address budget that signing a real
clip is paid from; and clip signing is a shared pool where one network flooding real clips
spends only its own budget while another network's listener gets their clip.

One origin with a sealed replay of three segments and a small clip budget (2 per address);
the tests are the trusted edge (X-Real-IP names who asks). Loopback only, bounded."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.server import Server, push_tone, start_server, stop_process, stop_server
from tests.adversarial import spellings
from tests.adversarial.report import tally
from tests.adversarial.stage import RawClient

pytestmark = [pytest.mark.adversarial, pytest.mark.slow]
BUDGET = 2  # clips an address may have signed before it waits (clip_burst_per_address)


@dataclass
class Replay:
    origin: Server
    sid: str
    msns: list[int]

    def clip(self, first: int, last: int) -> str:
        return f"{self.origin.base_url}/replay/{self.sid}/clip/{first}-{last}.m4a"


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replay]:
    origin = start_server(tmp_path_factory.mktemp("clips") / "data", "--attack-mode", "off",
                          "--set", f"clip_burst_per_address={BUDGET}",
                          "--set", "clip_rate_per_address=0.01",
                          "--set", "shed_lag_scale=20")
    try:
        doc = origin.create_space(title="Clips")
        push = push_tone(doc["ingest_url"], 7, 550)
        try:
            origin.wait_on_air(doc["id"], 20)
            assert push.wait(30) == 0
        finally:
            stop_process(push)
        assert origin.end_space(doc).status_code == 200
        deadline = time.monotonic() + 30
        while True:
            res = httpx.get(f"{origin.base_url}/record/{doc['id']}/manifest.json", timeout=10)
            if res.status_code == 200 and res.json().get("complete"):
                break
            assert time.monotonic() < deadline, res.text
            time.sleep(0.3)
        msns = [s["msn"] for s in res.json()["segments"]]
        assert len(msns) >= 3, msns
        yield Replay(origin, doc["id"], msns)
    finally:
        stop_server(origin)


@pytest.fixture(scope="module")
def client() -> Iterator[RawClient]:
    c = RawClient(timeout=30)
    try:
        yield c
    finally:
        c.close()


def who(address: str) -> dict[str, str]:
    return {"X-Real-IP": address}


FLOODER = "203.0.113.66"
MINUS_SIGN = "\u2212"


@st.composite
def clip_spelling(draw: st.DrawFn, msns: list[int]) -> str:
    """A spelling of a clip path tail other than the one canonical one (for clips other
    than the first segment's, which the budget check asks for)."""
    first = draw(st.sampled_from(msns[1:]))
    last = draw(st.sampled_from([m for m in msns if m >= first]))
    canonical = f"clip/{first}-{last}.m4a"
    kind = draw(st.sampled_from(["path", "path", "query", "dots", "dashes"]))
    if kind == "path":
        spelled, _ = draw(spellings.path("clip/{}-{}.m4a", (first, last)))
        if spelled == canonical:
            spelled = f"clip/0{first}-{last}.m4a"
        return spelled
    if kind == "query":
        return canonical + "?" + draw(st.sampled_from(["x=1", "=", "from=1&to=2", "%00", "&"]))
    if kind == "dots":
        return f"clip/{first}.{draw(st.sampled_from(['', '0', '.']))}-{last}.m4a"
    dash = draw(st.sampled_from(["-", "--", MINUS_SIGN]))
    return f"clip/{first}-{dash}{last}.m4a"


@given(data=st.data())
@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_every_other_spelling_of_a_clip_path_is_refused_at_once(
        replay: Replay, client: RawClient, data: st.DataObject) -> None:
    tail = data.draw(clip_spelling(replay.msns))

    def check() -> None:
        url = f"{replay.origin.base_url}/replay/{replay.sid}/{tail}"
        r = client.get(url.replace(MINUS_SIGN, "%E2%88%92"), headers=who(FLOODER))
        assert r.status_code in (307, 308, 400, 404, 405), (tail, r.status_code, r.text[:200])
        if r.status_code == 400:
            assert r.json()["error"] in ("bad_clip_range", "non_canonical_path"), r.text
        if r.status_code in (307, 308):  # a slash too many: to the one spelling
            assert r.headers["location"].endswith(tail.rstrip("/").split("?")[0]), r.headers

    tally("clip path at the origin: non-canonical", check)


def test_the_spellings_cost_none_of_the_budget_for_real_clips(replay: Replay,
                                                              client: RawClient) -> None:
    """After the family above (from the same address), the address still has its whole
    budget: its first BUDGET real clips are signed, the next one waits (429)."""
    m = replay.msns
    for tail in (f"clip/0{m[1]}-{m[1]}.m4a", f"clip/%3{m[1]}-{m[2]}.m4a",
                 f"%63lip/{m[2]}-{m[2]}.m4a", f"clip/{m[1]}-{m[2]}.m4a?x=1"):
        r = client.get(f"{replay.origin.base_url}/replay/{replay.sid}/{tail}",
                       headers=who(FLOODER))
        assert r.status_code == 400, (tail, r.status_code)
    got = [client.get(replay.clip(m[0], last), headers=who(FLOODER)).status_code
           for last in m[:BUDGET + 1]]
    assert got == [200] * BUDGET + [429], got
    metrics = httpx.get(f"{replay.origin.base_url}/metrics", timeout=10,
                        headers=replay.origin.hosting_headers()).text
    assert 'townhall_admission_events_total{event="clip_path_refused"}' in metrics


def test_one_network_flooding_real_clips_leaves_another_networks_clip_signed(
        replay: Replay, client: RawClient) -> None:
    """Clip signing is a shared pool (CPU, paid from per-address and per-network budgets):
    addresses of one /24 asking for every other clip, again and again, spend their own
    budgets and are answered at once (a signed clip kept, or 429); another network's
    listener then has a clip nobody signed yet signed for them."""
    m = replay.msns
    legit = (m[1], m[-1])
    flood = [(a, b) for a in m for b in m if a <= b and (a, b) != legit]
    start = time.monotonic()
    codes: dict[int, int] = {}
    for i in range(60):
        first, last = flood[i % len(flood)]
        r = client.get(replay.clip(first, last), headers=who(f"192.0.2.{10 + i % 3}"))
        codes[r.status_code] = codes.get(r.status_code, 0) + 1
    assert set(codes) <= {200, 429}, codes
    signed = client.get(replay.clip(*legit), headers=who("198.51.100.42"))
    assert signed.status_code == 200 and len(signed.content) > 1000, signed.status_code
    assert time.monotonic() - start < 15
    tally("clip signing: another network served", lambda: None)
