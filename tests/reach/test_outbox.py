"""The announcements outbox (reach/outbox.py) on SQLite and PostgreSQL: a held row is taken
by no one; once its holder stops renewing it, exactly one of two origins takes it; the space
watch derives its event from the stored state (a withdrawal, an ended space's replay and
transcript), queues it once and closes the row; a row whose fact is not stored waits, and is
given up (void) when there is nothing to announce."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from townhall.reach.events import SpaceEvent, event_id
from townhall.reach.outbox import Outbox
from townhall.reach.space_watch import SpaceWatch
from townhall.settings import Settings
from townhall.space.lifecycle import Phase
from townhall.space.space_record import SpaceRecord
from townhall.store.factory import Stores
from townhall.store.reach import Announcement


def test_a_lapsed_hold_is_taken_by_exactly_one_of_two_origins(
        open_store: Callable[[], Stores]) -> None:
    a, b = open_store().reach, open_store().reach
    row = Announcement(event_id("replay.withdrawn", "s1"), "s1", "replay.withdrawn", 100.0,
                       130.0)
    a.hold(row)
    assert b.lapsed(120.0, 10) == []  # held
    a.hold(replace(row, held_until=160.0))  # its holder renews
    assert b.lapsed(140.0, 10) == []
    found = b.lapsed(170.0, 10)
    assert [r.event_id for r in found] == [row.event_id] and found[0].held_until == 160.0
    taken = [a.take(found[0], 200.0), b.take(found[0], 200.0)]
    assert sorted(taken) == [False, True]  # compare-and-set: one origin
    assert b.lapsed(190.0, 10) == []  # the taker holds it now
    b.settle(row.event_id, "done")
    a.hold(replace(row, held_until=300.0))  # a late holder reopens nothing
    assert a.lapsed(1000.0, 10) == [] and a.announcement_state(row.event_id) == "done"


class FakeSpaces:
    """The registry's stored records and withdrawals, as the watch reads them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.records: dict[str, SpaceRecord] = {}
        self.withdrawals: dict[str, dict[str, Any]] = {}
        self.store = SimpleNamespace(load=self.records.get)
        self.recordings = SimpleNamespace(withdrawal=self.withdrawals.get)

    def all(self) -> list[Any]:
        return []


def test_the_watch_queues_a_lapsed_announcement_from_the_stored_state_once(
        open_store: Callable[[], Stores], tmp_path: Path) -> None:
    settings = Settings.of(webhook_hold_s=10.0, webhook_give_up_s=1000.0)
    reach = open_store().reach
    now = [100.0]
    outbox = Outbox(settings, reach, clock=lambda: now[0])
    spaces = FakeSpaces(settings)
    published: list[SpaceEvent] = []

    async def publish(event: SpaceEvent, owner: str) -> int:
        published.append(event)
        return 1

    watch = SpaceWatch(spaces, SimpleNamespace(owner_of=lambda sid: "admin"),  # type: ignore
                       SimpleNamespace(publish=publish), outbox,  # type: ignore[arg-type]
                       clock=lambda: now[0])

    def ended(sid: str, replay: bool) -> SpaceRecord:
        return SpaceRecord(sid, "T", "H", "x", created_at=1.0, phase=Phase.ENDED,
                           ended_at=90.0, has_replay=replay)

    async def run() -> list[str]:
        for kind, sid in [("replay.withdrawn", "kept"), ("replay.withdrawn", "never"),
                          ("captions.ready", "live"), ("captions.ready", "spoken"),
                          ("captions.ready", "pulled")]:
            await outbox.hold(kind, sid)  # then each holder is killed
        spaces.withdrawals["kept"] = {"withdrawn_at": "2026-12-07T18:00:00Z"}
        spaces.records["kept"] = ended("kept", False)
        spaces.records["never"] = ended("never", True)  # killed before it stored one
        spaces.records["live"] = replace(ended("live", False), phase=Phase.LIVE)
        spaces.records["spoken"] = ended("spoken", True)
        reach.put_transcript("spoken", [(3, "WEBVTT\n\n00:00.000 --> 00:01.000\nhi\n")])
        spaces.records["pulled"] = ended("pulled", False)
        spaces.withdrawals["pulled"] = {"withdrawn_at": "2026-12-07T18:00:00Z"}
        now[0] = 105.0
        assert await watch.recover() == 0  # still held
        now[0] = 111.0
        assert await watch.recover() == 2
        now[0] = 200.0
        spaces.records["live"] = ended("live", True)  # it ended; nothing was said
        assert await watch.recover() == 0
        now[0] = 2000.0  # past webhook_give_up_s: the withdrawal never stored is given up
        assert await watch.recover() == 0
        return [str(reach.announcement_state(event_id(k, s))) for k, s in [
            ("replay.withdrawn", "kept"), ("replay.withdrawn", "never"),
            ("captions.ready", "live"), ("captions.ready", "spoken"),
            ("captions.ready", "pulled")]]

    states = asyncio.run(run())
    assert states == ["done", "void", "void", "done", "void"]
    assert sorted((e.type, e.space_id) for e in published) == [
        ("captions.ready", "spoken"), ("replay.withdrawn", "kept")]
    ready = next(e for e in published if e.type == "captions.ready")
    assert ready.data["transcript_url"].endswith("/replay/spoken/transcript.vtt")
    assert ready.at == 90.0 and ready.id == event_id("captions.ready", "spoken")
    gone = next(e for e in published if e.type == "replay.withdrawn")
    assert gone.at == 1796666400.0 and gone.data["replay_download_url"] is None
