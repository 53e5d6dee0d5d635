"""The host's captions switch is kept with the space: in the store (SQLite and PostgreSQL),
never switched back by another origin's save of an older copy, and followed by an origin
restarted on the same database (its master playlist offers the rendition again)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import httpx

from harness.server import push_tone, start_server, stop_process, stop_server
from townhall.space.space_record import SpaceRecord
from townhall.store.factory import Stores


def record(space_id: str, **more: object) -> SpaceRecord:
    return SpaceRecord(id=space_id, title="Budget hearing", host="Clerk",
                       host_key_hash="h" * 64, created_at=1.0, **more)  # type: ignore[arg-type]


def test_the_switch_is_kept_and_a_save_of_an_older_copy_never_switches_it_back(
        open_store: Callable[[], Stores]) -> None:
    store = open_store().spaces
    stale = record("s1")
    store.save(stale)
    assert store.load("s1") == stale and stale.captions is None  # the operator's default
    store.set_captions("s1", False)
    # another origin's copy, made before the switch, saves a new listener peak
    store.save(dataclasses.replace(stale, peak_listeners=40))
    again = open_store().spaces.load("s1")
    assert again is not None and again.captions is False and again.peak_listeners == 40
    store.set_captions("s1", True)
    assert open_store().spaces.load("s1") == dataclasses.replace(again, captions=True)
    store.set_captions("s1", None)
    loaded = open_store().spaces.load("s1")
    assert loaded is not None and loaded.captions is None
    store.set_captions("unknown", True)  # nothing to switch: no row appears
    assert open_store().spaces.load("unknown") is None


def test_the_hosts_switch_survives_a_restart_of_the_origin(database: str,
                                                           tmp_path: Path) -> None:
    args = ("--database", database, "--migrate") if database.startswith("postgres") else (
        "--database", database)
    origin = start_server(tmp_path / "data", *args)  # operator default: no captions
    try:
        doc = origin.create_space()
        url = f"{origin.base_url}/api/spaces/{doc['id']}/captions"
        host = {"Authorization": f"Bearer {doc['host_key']}"}
        assert httpx.get(url).json()["enabled"] is False
        res = httpx.put(url, json={"enabled": True}, headers=host)
        assert res.status_code == 200 and res.json()["enabled"] is True
    finally:
        stop_server(origin)
    origin = start_server(tmp_path / "data", *args)
    try:
        state = httpx.get(f"{origin.base_url}/api/spaces/{doc['id']}/captions").json()
        assert state["enabled"] is True
        # the restarted origin listens on other ports
        ingest = (f"icecast://source:{doc['host_key']}@127.0.0.1:{origin.ingest_port}"
                  f"/ingest/{doc['id']}")
        source = push_tone(ingest, 8)
        try:
            origin.wait_on_air(doc["id"])
            master = httpx.get(f"{origin.media_base(doc['id'])}/master.m3u8")
            assert '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs"' in master.text, master.text
        finally:
            stop_process(source)
    finally:
        stop_server(origin)
