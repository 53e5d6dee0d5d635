"""The details document: rendered at most once per `status_refresh_s` per space (a crowd
polling it costs one render), carrying the join grant and latency tier the app gives it;
the replay's URLs only once an ended space has one; the ingest URL as the source must use
it. In-memory stores: no sockets."""

from __future__ import annotations

import json

from tests.live.fakes import MemoryRecordings, MemorySpaces, record
from townhall.live.program.factory import ProgramFactory
from townhall.live.program.host import LocalPrograms
from townhall.live.registry.host_keys import HostKeys
from townhall.live.registry.live_space import LiveSpace
from townhall.live.registry.spaces import Spaces
from townhall.settings import Settings
from townhall.space.lifecycle import Phase
from townhall.space.space_record import SpaceRecord
from townhall.web.space_documents import SpaceDocuments

NOW = 1_800_000_000.0


def _spaces(settings: Settings, *records: SpaceRecord) -> Spaces:
    store, recordings = MemorySpaces(*records), MemoryRecordings()
    return Spaces(settings, store, recordings,
                  keys=HostKeys(settings, store, shared=False),
                  programs=LocalPrograms(ProgramFactory(settings, recordings)))


def test_the_details_are_rendered_once_per_refresh_interval() -> None:
    settings = Settings.of(status_refresh_s=1.0)
    spaces = _spaces(settings, record("a"))
    renders: list[float] = []

    def tier(space: LiveSpace, listeners: int, now: float) -> dict[str, str]:
        renders.append(now)
        return {"latency_tier": "low"}

    docs = SpaceDocuments(settings, spaces, latency_tier=tier)
    space = spaces.get("a")
    first = docs.status_bytes(space, NOW)
    assert docs.status_bytes(space, NOW + 0.9) is first and renders == [NOW]
    assert docs.status_bytes(space, NOW + 1.0) is not first and len(renders) == 2
    assert json.loads(first)["latency_tier"] == "low"


def test_the_join_grant_is_the_app_s_and_absent_without_one() -> None:
    settings = Settings()
    spaces = _spaces(settings, record("a"))
    space = spaces.get("a")
    assert SpaceDocuments(settings, spaces).details(space, NOW)["join_grant"] is None
    granted = SpaceDocuments(settings, spaces, join_grant=lambda sp, n, now: f"g.{sp.record.id}")
    assert granted.details(space, NOW)["join_grant"] == "g.a"


def test_the_replay_urls_appear_once_an_ended_space_has_a_replay() -> None:
    settings = Settings.of(public_url="https://th.example")
    spaces = _spaces(settings, record("a", phase=Phase.ENDED), record(
        "b", phase=Phase.ENDED, has_replay=True))
    docs = SpaceDocuments(settings, spaces)
    a, b = docs.details(spaces.get("a"), NOW), docs.details(spaces.get("b"), NOW)
    assert a["replay_url"] is None and a["playlist_url"] == "https://th.example/live/a/master.m3u8"
    assert b["replay_url"] == "https://th.example/replay/b/media.m3u8"
    assert b["replay_download_url"] == "https://th.example/replay/b.m4a"
    assert a["signing_key"] is None  # this deployment does not sign


def test_the_ingest_url_is_the_edge_s_when_one_forwards_pushes() -> None:
    space_record = record("a")
    own = Settings.of(ingest_public_host="origin.example", ingest_port=8001)
    docs = SpaceDocuments(own, _spaces(own, space_record))
    space = docs.spaces.get("a")
    assert docs.ingest_url(space, "KEY") == "icecast://source:KEY@origin.example:8001/ingest/a"
    edge = Settings.of(ingest_public_url="https://edge.example/")
    docs = SpaceDocuments(edge, _spaces(edge, space_record))
    assert docs.ingest_url(space, "KEY") == "https://source:KEY@edge.example/ingest/a"
