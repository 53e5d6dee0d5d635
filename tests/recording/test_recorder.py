"""The recorder on each real store (files on disk, PostgreSQL): parts are journalled as they
go out, so a hard crash loses nothing that listeners heard; the journal becomes the
recording's last segment on recovery; the store keeps writes back while it is unreachable."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator

import pytest

from townhall.recording.manifest import RecordingManifest, verify_chain
from townhall.recording.recorder import Recorder, recover
from townhall.store.base import RecordingStore, StoreUnavailable
from townhall.store.factory import Stores

INIT = b"ftyp-moov"
SECRET = b"k" * 32
PDT = 1.7e9


@pytest.fixture
def store(open_store: Callable[[], Stores]) -> Iterator[RecordingStore]:
    yield open_store().recordings


def parts(msn: int, n: int) -> list[bytes]:
    return [b"moof-mdat %d.%d " % (msn, i) * 20 for i in range(n)]


async def publish(rec: Recorder, msn: int, n: int, *, close: bool) -> None:
    for i, data in enumerate(parts(msn, n)):
        rec.part(msn, i, data, 0.32, PDT + msn * 2.24, False)
    if close:
        rec.segment(msn, b"".join(parts(msn, n)), 0.32 * n, PDT + msn * 2.24, False)


def crash_after(store: RecordingStore, closed: int, open_parts: int) -> None:
    """Publish `closed` whole segments and `open_parts` parts of the next, wait until the
    writer has them stored, then stop without finishing (what a SIGKILL leaves)."""
    async def run() -> None:
        rec = Recorder(store, "sp", SECRET)
        rec.start(INIT)
        for msn in range(closed):
            await publish(rec, msn, 7, close=True)
        await publish(rec, closed, open_parts, close=False)
        await rec.flush()
    asyncio.run(run())


def stored_segments(store: RecordingStore, manifest: RecordingManifest) -> list[bytes]:
    out = []
    for entry in manifest.segments:
        data = store.segment("sp", entry)
        assert data is not None
        out.append(data)
    return out


def test_a_closed_segment_leaves_no_journal(store: RecordingStore) -> None:
    crash_after(store, 2, 0)
    assert store.journal("sp") is None
    manifest = recover(store, "sp")
    assert manifest is not None and [e.msn for e in manifest.segments] == [0, 1]


def test_after_a_crash_the_open_segments_parts_become_the_last_segment(
        store: RecordingStore) -> None:
    crash_after(store, 2, 3)
    assert store.journal("sp") is not None and store.has_recording("sp")
    manifest = recover(store, "sp")
    assert manifest is not None and [e.msn for e in manifest.segments] == [0, 1, 2]
    last = manifest.segments[-1]
    assert store.segment("sp", last) == b"".join(parts(2, 3))
    assert abs(last.duration - 0.96) < 1e-6 and last.program_date_time == PDT + 2 * 2.24
    assert store.init("sp") == INIT
    verify_chain(manifest, INIT, stored_segments(store, manifest))
    assert store.journal("sp") is None
    assert store.manifest("sp") == manifest
    assert recover(store, "sp") == manifest  # recovering twice changes nothing


def test_a_crash_inside_the_first_segment_still_keeps_its_parts(store: RecordingStore) -> None:
    crash_after(store, 0, 2)
    assert store.manifest("sp") is None
    manifest = recover(store, "sp")
    assert manifest is not None and [e.msn for e in manifest.segments] == [0]
    verify_chain(manifest, INIT, stored_segments(store, manifest))


def test_a_journal_torn_in_its_header_is_dropped_without_touching_the_recording(
        store: RecordingStore) -> None:
    crash_after(store, 1, 0)
    store.write_journal("sp", b'{"msn": 1, "progr')
    manifest = recover(store, "sp")
    assert manifest is not None and [e.msn for e in manifest.segments] == [0]
    assert store.journal("sp") is None


def test_a_recovered_recording_is_sealed_by_a_finish_without_a_new_start(
        store: RecordingStore) -> None:
    crash_after(store, 1, 4)

    async def end() -> RecordingManifest | None:
        rec = Recorder(store, "sp", SECRET)
        rec.manifest = recover(store, "sp")
        return await rec.finish()

    sealed = asyncio.run(end())
    assert sealed is not None and sealed.complete and sealed.verify_signature(SECRET)
    stored = store.manifest("sp")
    assert stored is not None and stored.complete and stored.verify_signature(SECRET)
    assert [e.msn for e in stored.segments] == [0, 1]


class Flaky:
    """A store that is unreachable until `back` is set (a database restarting)."""

    def __init__(self, inner: RecordingStore) -> None:
        self.inner = inner
        self.back = threading.Event()
        self.refused = 0

    def __getattr__(self, name: str) -> object:
        target = getattr(self.inner, name)
        if not callable(target) or name in ("ping", "close"):
            return target

        def call(*args: object) -> object:
            if not self.back.is_set():
                self.refused += 1
                raise StoreUnavailable("restarting")
            return target(*args)
        return call


def test_writes_made_while_the_store_is_unreachable_land_in_order_once_it_is_back(
        store: RecordingStore) -> None:
    flaky = Flaky(store)

    async def run() -> RecordingManifest | None:
        rec = Recorder(flaky, "sp", SECRET)  # type: ignore[arg-type]
        rec.start(INIT)
        for msn in range(3):
            await publish(rec, msn, 7, close=True)
        await publish(rec, 3, 2, close=False)
        await asyncio.sleep(0.5)  # the outage: the writer keeps everything and retries
        assert rec.backlog > 0 and store.manifest("sp") is None
        flaky.back.set()
        await publish(rec, 3, 0, close=False)
        rec.segment(3, b"".join(parts(3, 2)), 0.64, PDT + 3 * 2.24, False)
        return await rec.finish()

    sealed = asyncio.run(asyncio.wait_for(run(), 30))
    assert flaky.refused > 1
    stored = store.manifest("sp")
    assert sealed is not None and stored == sealed and stored.complete
    assert [e.msn for e in stored.segments] == [0, 1, 2, 3]
    verify_chain(stored, INIT, stored_segments(store, stored))


def test_an_append_retried_after_it_landed_leaves_the_journal_as_one_append(
        store: RecordingStore) -> None:
    store.put_init("sp", INIT)
    head = b'{"msn": 0, "program_date_time": 1.0, "discontinuity": false}\n'
    store.write_journal("sp", head)
    store.append_journal("sp", b"part-1", len(head))
    store.append_journal("sp", b"part-1", len(head))  # the answer was lost: tried again
    store.append_journal("sp", b"part-2", len(head) + 6)
    assert store.journal("sp") == head + b"part-1part-2"
