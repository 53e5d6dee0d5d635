"""Admission with a join grant: an open space's details carry a grant, with which an origin
issues tickets without the space's waiting room; the count still includes those listeners."""

from __future__ import annotations

import time

import httpx
import pytest

from harness.server import Server

pytestmark = pytest.mark.slow


def admit(server: Server, space_id: str, body: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{server.base_url}/api/admit/{space_id}", json=body, timeout=10)


def test_an_open_space_admits_with_its_grant_and_counts_those_listeners(server: Server) -> None:
    doc = server.create_space()
    grant = server.details(doc["id"])["join_grant"]
    assert grant and grant.startswith(f"g1.{doc['id']}.")
    seats = []
    for _ in range(5):
        res = admit(server, doc["id"], {"grant": grant})
        assert res.status_code == 200, res.text
        assert res.json()["status"] == "admitted" and res.headers["cache-control"] == "no-store"
        seats.append(res.json())
    # the ticket opens the media path (not live yet: 404 not_live, not 403)
    media = httpx.get(seats[0]["playlist_url"].replace("master.m3u8", "media.m3u8"), timeout=10)
    assert media.status_code == 404 and media.json()["error"] == "not_live"
    renewed = admit(server, doc["id"], {"grant": grant, "renew": seats[0]["ticket"],
                                        "seat_secret": seats[0]["seat_secret"]})
    assert renewed.status_code == 200 and renewed.json()["seat"] == seats[0]["seat"]
    deadline = time.monotonic() + 8
    while server.details(doc["id"])["listeners"]["now"] != 5:  # counted within a report
        assert time.monotonic() < deadline, server.details(doc["id"])["listeners"]
        time.sleep(0.3)


def test_a_bad_grant_or_a_capped_space_or_attack_mode_means_joining_at_home(
        server: Server) -> None:
    doc = server.create_space()
    grant = server.details(doc["id"])["join_grant"]
    other = server.create_space()
    for body, status, code in (({"grant": grant[:-2] + "xx"}, 403, "bad_grant"),
                               ({"grant": "g1.nonsense"}, 403, "bad_grant"),
                               ({}, 422, "invalid_request")):
        res = admit(server, doc["id"], body)
        assert (res.status_code, res.json()["error"]) == (status, code), res.text
    res = admit(server, other["id"], {"grant": grant})  # another space's grant
    assert res.status_code == 403 and res.json()["error"] == "bad_grant"
    capped = server.create_space(title="t", host="h", listener_cap=10)
    assert server.details(capped["id"])["join_grant"] is None
    key = (server.data_dir / "admin.key").read_text().strip()
    on = httpx.put(f"{server.base_url}/api/admin/attack-mode", json={"mode": "on"},
                   headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert on.status_code == 200
    time.sleep(1.0)  # the details document is rendered at most twice a second
    assert server.details(doc["id"])["join_grant"] is None
