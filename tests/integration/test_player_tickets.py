"""Standard players keep playing past their ticket's lifetime, at the URLs they were given.

Real ffmpeg, given only the details' `playlist_url` (through a real nginx edge), plays for
several ticket lifetimes with no code of ours; a lapsed ticket is served by the edge without
a redirect, at one renewal check per ticket lifetime; once its seat is given back it stops
within one ticket lifetime; forged tickets still die at the edge.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from harness.edge import Edge, origin_behind_edge, origin_metrics
from harness.server import Server, push_tone, start_server, stop_process, stop_server
from tests.audibility import audibility

pytestmark = pytest.mark.slow
SHORT = ("--set", "seat_ttl_s=10", "--set", "seat_ttl_max_s=10", "--set", "ticket_grace_s=5")


@pytest.fixture
def origin(tmp_path: Path) -> Iterator[Server]:
    """An origin with short tickets and no edge: players pointed straight at it."""
    srv = start_server(tmp_path / "data", *SHORT, "--set", "part_hold_back_parts=5")
    try:
        yield srv
    finally:
        stop_server(srv)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[Server, Edge]]:
    with origin_behind_edge(tmp_path, *SHORT, "--set", "part_hold_back_parts=5") as pair:
        yield pair


def test_ffmpeg_plays_through_ticket_renewals_it_never_asked_for(
        deployment: tuple[Server, Edge]) -> None:
    origin, edge = deployment
    doc = origin.create_space()
    push = push_tone(doc["ingest_url"], 40, 1000)
    try:
        origin.wait_on_air(doc["id"], 20)
        entry = origin.details(doc["id"])["playlist_url"].replace(origin.base_url, edge.url)
        # tickets live 5 s here: 22 s of listening crosses four renewals
        player = subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-i", entry, "-t", "22", "-f", "f32le",
             "-ac", "1", "-ar", "48000", "-"], capture_output=True, timeout=90)
        assert player.returncode == 0, player.stderr.decode()[-2000:]
        pcm = np.frombuffer(player.stdout, dtype=np.float32)
        heard = audibility(pcm, 48000)
        assert heard.heard_whole(22.0), heard
        counters = origin_metrics(origin)["counters"]
        # tickets live 5 s: renewed about once per lifetime, never on every reload (the
        # edge keeps each renewal check for a lifetime)
        assert 2 <= counters["player_renewed"] <= 6, counters
    finally:
        stop_process(push)


def test_a_given_back_seat_stops_its_url_and_forged_tickets_die_at_the_edge(
        deployment: tuple[Server, Edge]) -> None:
    origin, edge = deployment
    doc = origin.create_space()
    push = push_tone(doc["ingest_url"], 30, 1000)
    try:
        origin.wait_on_air(doc["id"], 20)
        joined = origin.join(doc["id"])
        url = joined["playlist_url"].replace(origin.base_url, edge.url)
        assert httpx.get(url, timeout=10).status_code == 200
        forged = url.replace(joined["ticket"], joined["ticket"][:-3] + "AAA")
        before = origin_metrics(origin)["counters"]["media_forged"]
        assert httpx.get(forged, timeout=10).status_code == 403
        assert origin_metrics(origin)["counters"]["media_forged"] == before  # never asked
        left = httpx.post(f"{origin.base_url}/api/spaces/{doc['id']}/leave",
                          json={"ticket": joined["ticket"],
                                "seat_secret": joined["seat_secret"]}, timeout=10)
        assert left.status_code == 204
        time.sleep(6)  # past the ticket's 5 s
        gone = httpx.get(url, timeout=10, follow_redirects=False)
        assert gone.status_code == 403 and gone.json()["error"] == "seat_gone", gone.text
    finally:
        stop_process(push)


LIFE_S = 5.0  # a ticket's life in SHORT: a seat of 10 s less the 5 s grace


def test_a_lapsed_ticket_plays_on_at_its_own_url_at_one_renewal_per_lifetime_until_its_seat_goes(
        deployment: tuple[Server, Edge]) -> None:
    """What Shaka does (it keeps fetching under the ticket it first saw): every URL under the
    lapsed ticket answers 200, never a redirect; the origin renews the seat once per ticket
    lifetime; given back, the seat's lapsed ticket stops (403 seat_gone) within a lifetime."""
    origin, edge = deployment
    doc = origin.create_space()
    push = push_tone(doc["ingest_url"], 40, 1000)
    try:
        origin.wait_on_air(doc["id"], 20)
        joined = origin.join(doc["id"])
        base = joined["playlist_url"].replace(origin.base_url, edge.url).rsplit("/", 1)[0]
        expires = int(joined["ticket"].split(".")[1])
        with httpx.Client(timeout=15, follow_redirects=False) as client:
            # first asked in the ticket's last second (expires.5), which nginx still calls
            # valid and the origin lapsed: the edge must not forward it (that was a redirect)
            while time.time() < expires + 0.5:
                time.sleep(0.05)
            renewed = origin_metrics(origin)["counters"]["player_renewed"]
            start = time.monotonic()
            while time.monotonic() - start < 2.5 * LIFE_S:
                listed = client.get(f"{base}/segments.m3u8")
                assert listed.status_code == 200, listed.text
                newest = [ln for ln in listed.text.splitlines() if ln.startswith("seg/")][-1]
                for tail in (newest, "init.mp4", "media.m3u8"):
                    got = client.get(f"{base}/{tail}")
                    assert got.status_code == 200, (tail, got.status_code, got.text[:200])
                time.sleep(0.25)
            checks = origin_metrics(origin)["counters"]["player_renewed"] - renewed
            # the edge's check is its own: no client reaches it through the edge
            assert client.get(f"{base}/renewal").status_code == 400
            assert client.get(f"{edge.url}/_townhall/renewal").status_code == 404
            # at 0, LIFE_S and 2 * LIFE_S: three checks in 2.5 lifetimes, at most
            assert 1 <= checks <= 3, checks
            # the page's way to give the seat back: renew (with its secret), then leave
            api = f"{origin.base_url}/api/spaces/{doc['id']}"
            held = _renew(origin, doc["id"], "room", joined)
            left = httpx.post(f"{api}/leave", json={"ticket": held["ticket"],
                                                    "seat_secret": joined["seat_secret"]},
                              timeout=10)
            assert left.status_code == 204
            gave_back = time.monotonic()
            while (got := client.get(f"{base}/init.mp4")).status_code == 200:
                # the edge keeps a check for one lifetime, whole seconds (X-Accel-Expires)
                assert time.monotonic() - gave_back < LIFE_S + 1.5, "plays on past the bound"
                time.sleep(0.2)
            assert got.status_code == 403 and got.json()["error"] == "seat_gone", got.text
    finally:
        stop_process(push)


def _http_log(stderr: str) -> tuple[int, int]:
    """(requests, redirects) from ffmpeg's `-v trace` log: every request it sent, and every
    answer whose status line was a redirect (ffmpeg follows them itself)."""
    requests = len(re.findall(r"\] request: GET ", stderr))
    redirects = len(re.findall(r"header='HTTP/1\.[01] 30[1278] ", stderr))
    return requests, redirects


def test_ffmpeg_straight_at_an_origin_plays_lapsed_tickets_at_their_own_urls_unredirected(
        origin: Server) -> None:
    """No edge: the origin serves a lapsed but genuine ticket at its own URL, renewing the
    seat once per ticket lifetime, so ffmpeg's only redirect is the entry URL's (before:
    a 302 to a fresh ticket at every lapse: 8 redirects and 6 renewals in 22 s)."""
    doc = origin.create_space()
    push = push_tone(doc["ingest_url"], 40, 1000)
    try:
        origin.wait_on_air(doc["id"], 20)
        entry = origin.details(doc["id"])["playlist_url"]
        before = origin_metrics(origin)["counters"]
        started = time.monotonic()
        player = subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "trace", "-i", entry, "-t", "22", "-f", "f32le",
             "-ac", "1", "-ar", "48000", "-"], capture_output=True, timeout=90)
        log = player.stderr.decode(errors="replace")
        assert player.returncode == 0, log[-2000:]
        counters = origin_metrics(origin)["counters"]
        renewals = counters["player_renewed"] - before["player_renewed"]
        requests, redirects = _http_log(log)
        print(f"ffmpeg straight at the origin, 5 s tickets, 22 s of audio in "
              f"{time.monotonic() - started:.1f} s: {requests} requests, {redirects} "
              f"redirects, {renewals} renewals")
        heard = audibility(np.frombuffer(player.stdout, dtype=np.float32), 48000)
        assert heard.heard_whole(22.0), heard
        assert redirects == 1, (requests, redirects)  # the entry URL's 302 to its ticket
        # its first ticket lives 5 s, then one renewal per 5 s lifetime: 4 in 22 s, at most
        assert 2 <= renewals <= 5, renewals
    finally:
        stop_process(push)


def _seat(origin: Server, space_id: str, kind: str) -> dict[str, Any]:
    """A seat of the waiting room (`POST /join` at the space's origin) or a grant seat (the
    details' join grant, `POST /api/admit`, as the page and the load generator join)."""
    if kind == "room":
        return origin.join(space_id)
    grant = origin.details(space_id)["join_grant"]
    assert grant, "an open space's details carry a join grant"
    got = httpx.post(f"{origin.base_url}/api/admit/{space_id}", json={"grant": grant},
                     timeout=10)
    assert got.status_code == 200, got.text
    joined: dict[str, Any] = got.json()
    assert joined["seat"].startswith("g")
    return joined


def _renew(origin: Server, space_id: str, kind: str, joined: dict[str, Any]) -> dict[str, Any]:
    body = {"renew": joined["ticket"], "seat_secret": joined["seat_secret"]}
    if kind == "room":
        url = f"{origin.base_url}/api/spaces/{space_id}/join"
    else:
        url = f"{origin.base_url}/api/admit/{space_id}"
        body["grant"] = origin.details(space_id)["join_grant"]
    renewed: dict[str, Any] = httpx.post(url, json=body, timeout=10).json()
    assert renewed["seat"] == joined["seat"], renewed
    return renewed


@pytest.mark.parametrize("kind", ["room", "grant"])
def test_a_lapsed_ticket_straight_at_an_origin_answers_200_until_its_seat_goes(
        origin: Server, kind: str) -> None:
    """What Shaka does straight at an origin (it keeps the ticket it first saw), and a page
    whose renewal came late: every URL under the lapsed ticket answers 200, never a
    redirect, at one renewal per lifetime, for a waiting room's seat and a grant seat alike
    (a grant seat's lapsed ticket was answered 403 seat_gone: the load generator's plain
    listeners rejoined); given back, the seat's lapsed ticket answers 403 seat_gone within a
    lifetime; a forged one is still refused."""
    doc = origin.create_space()
    push = push_tone(doc["ingest_url"], 40, 1000)
    try:
        origin.wait_on_air(doc["id"], 20)
        joined = _seat(origin, doc["id"], kind)
        base = joined["playlist_url"].rsplit("/", 1)[0]
        expires = int(joined["ticket"].split(".")[1])
        with httpx.Client(timeout=15, follow_redirects=False) as client:
            while time.time() < expires + 1:
                time.sleep(0.05)
            renewed = origin_metrics(origin)["counters"]["player_renewed"]
            start = time.monotonic()
            while time.monotonic() - start < 2.5 * LIFE_S:
                listed = client.get(f"{base}/segments.m3u8")
                assert listed.status_code == 200, listed.text
                newest = [ln for ln in listed.text.splitlines() if ln.startswith("seg/")][-1]
                for tail in (newest, "init.mp4", "media.m3u8"):
                    got = client.get(f"{base}/{tail}")
                    assert got.status_code == 200, (tail, got.status_code, got.text[:200])
                time.sleep(0.25)
            checks = origin_metrics(origin)["counters"]["player_renewed"] - renewed
            assert 1 <= checks <= 3, checks  # at 0, LIFE_S and 2 * LIFE_S, at most
            forged = f"{base}/init.mp4".replace(joined["ticket"], joined["ticket"][:-3] + "AAA")
            assert client.get(forged).status_code == 403
            api = f"{origin.base_url}/api/spaces/{doc['id']}"
            held = _renew(origin, doc["id"], kind, joined)
            left = httpx.post(f"{api}/leave", json={"ticket": held["ticket"],
                                                    "seat_secret": joined["seat_secret"]},
                              timeout=10)
            assert left.status_code == 204
            gave_back = time.monotonic()
            while (got := client.get(f"{base}/init.mp4")).status_code == 200:
                assert time.monotonic() - gave_back < LIFE_S + 1.5, "plays on past the bound"
                time.sleep(0.2)
            assert got.status_code == 403 and got.json()["error"] == "seat_gone", got.text
            assert client.get(f"{base}/media.m3u8").json()["error"] == "seat_gone"
    finally:
        stop_process(push)
