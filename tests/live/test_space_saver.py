"""Write-behind saving: a record changed off a request's path is written by one pass, kept
while the store is away and written once it is back; a live space's grown listener peak is
noted and saved; closing tries once more and logs what stayed unsaved. In-memory store,
frozen clock: no sockets, no sleeps."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.live.fakes import Clock, MemorySpaces, live_space, record
from townhall.live.registry.live_space import LiveSpace
from townhall.live.registry.space_saver import SpaceSaver
from townhall.space.lifecycle import Phase


def _saver(store: MemorySpaces, spaces: list[LiveSpace], counts: dict[str, int]
           ) -> SpaceSaver:
    def listeners_now(space: LiveSpace, now: float) -> int:
        count = counts.get(space.record.id, 0)
        space.listeners.peak = max(space.listeners.peak, count)
        return count

    return SpaceSaver(store, lambda: spaces, listeners_now, retry_s=1.0,
                      clock=Clock())


def test_a_record_saved_soon_is_written_by_the_next_pass() -> None:
    store, space = MemorySpaces(), live_space()
    saver = _saver(store, [space], {})
    saver.save_soon(space)
    saver.save_soon(space)  # twice before the pass: written once
    asyncio.run(saver.write())
    assert store.saved == ["sp1"] and saver.unsaved == set()


def test_with_the_store_away_the_record_waits_and_lands_once_it_is_back() -> None:
    store, space = MemorySpaces(), live_space()
    saver = _saver(store, [space], {})
    store.down = True
    saver.save_soon(space)
    asyncio.run(saver.write())
    assert saver.unsaved == {"sp1"}
    space.record.peak_listeners = 7  # changed meanwhile: the latest state lands
    store.down = False
    asyncio.run(saver.write())
    assert store.saved == ["sp1"] and store.records["sp1"].peak_listeners == 7


def test_a_live_space_s_grown_peak_is_noted_and_saved() -> None:
    live = live_space(record("live", phase=Phase.LIVE, peak_listeners=3))
    scheduled = live_space(record("later"))
    store = MemorySpaces()
    saver = _saver(store, [live, scheduled], {"live": 5, "later": 9})
    saver.note_peaks()
    assert live.record.peak_listeners == 5 and scheduled.record.peak_listeners == 0
    assert saver.unsaved == {"live"}
    saver.note_peaks()  # not grown again: nothing more to save
    asyncio.run(saver.write())
    assert store.saved == ["live"]


def test_closing_tries_once_more_and_logs_what_stayed_unsaved(
        caplog: pytest.LogCaptureFixture) -> None:
    store, space = MemorySpaces(), live_space()
    saver = _saver(store, [space], {})

    async def run() -> None:
        saver.start()
        store.down = True
        saver.save_soon(space)
        await asyncio.sleep(0)
        with caplog.at_level(logging.WARNING, "townhall.spaces"):
            await saver.close()

    asyncio.run(run())
    assert "sp1: its last changes could not be stored" in caplog.text
