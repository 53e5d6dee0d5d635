"""Push sources: a source needs the host key, an unended space, a reachable store and the
hosting quotas; a newer source with the key takes over only once its audio decodes, and the
takeover is counted and announced; news from another origin cuts off only a source already
on air here. In-memory stores; decoded audio is handed to the session as its decoder
thread would (`_deliver`): no sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import numpy as np
import pytest

from tests.live.fakes import Clock, Heard, MemoryRecordings, MemorySpaces, record
from townhall.live.errors import SpaceError
from townhall.live.program.factory import ProgramFactory
from townhall.live.program.host import LocalPrograms
from townhall.live.registry.host_keys import HostKeys
from townhall.live.registry.live_space import LiveSpace
from townhall.live.registry.spaces import Spaces
from townhall.live.sources.push_sources import TAKEN_OVER, PushSources
from townhall.live.sources.session import IngestSession
from townhall.settings import Settings
from townhall.space.lifecycle import Phase

SETTINGS = Settings()
T = TypeVar("T")


class _Origin:
    def __init__(self, *, admit: Callable[[LiveSpace], None] | None = None) -> None:
        self.store = MemorySpaces(record("a", key="k"), record("gone", key="k",
                                                               phase=Phase.ENDED))
        self.recordings = MemoryRecordings()
        programs = LocalPrograms(ProgramFactory(SETTINGS, self.recordings))
        self.spaces = Spaces(SETTINGS, self.store, self.recordings,
                             keys=HostKeys(SETTINGS, self.store, shared=False),
                             programs=programs)
        self.heard = Heard()
        self.sources = PushSources(self.spaces, self.heard, admit=admit, clock=Clock(5.0))
        self.opened: list[IngestSession] = []

    def open(self, space_id: str, key: str | None) -> IngestSession:
        session = self.sources.open(space_id, key)
        self.opened.append(session)
        return session

    def space(self) -> LiveSpace:
        return self.spaces.get("a")


def _run(origin: _Origin, body: Callable[[], Awaitable[T]]) -> T:
    async def run() -> T:
        try:
            return await body()
        finally:
            for session in origin.opened:  # their decoder threads end before the loop does
                session.stop()
                await asyncio.to_thread(session.decoder.join, 5.0)
            await asyncio.sleep(0)
            await origin.spaces.close()

    return asyncio.run(run())


def _audio(session: IngestSession) -> None:
    session._deliver(np.zeros(960, dtype=np.float32))  # as the decoder thread hands it over


def test_a_source_needs_the_key_an_unended_space_and_a_reachable_store() -> None:
    o = _Origin()

    async def body() -> None:
        with pytest.raises(SpaceError) as bad:
            o.open("a", "wrong")
        assert bad.value.status == 401
        with pytest.raises(SpaceError) as ended:
            o.open("gone", "k")
        assert ended.value.status == 409
        o.recordings.down = True
        with pytest.raises(SpaceError) as away:
            o.open("a", "k")
        assert away.value.status == 503

    _run(o, body)


def test_the_hosting_quotas_are_asked_before_a_source_is_attached() -> None:
    def refuse(space: LiveSpace) -> None:
        raise SpaceError(429, "quota", "too many")

    o = _Origin(admit=refuse)

    async def body() -> None:
        with pytest.raises(SpaceError) as refused:
            o.open("a", "k")
        assert refused.value.code == "quota" and o.space().ingest is None

    _run(o, body)


def test_a_source_s_first_audio_puts_the_space_on_air_and_is_announced() -> None:
    o = _Origin()

    async def body() -> None:
        session = o.open("a", "k")
        assert o.space().ingest is session and o.space().record.phase is Phase.SCHEDULED
        _audio(session)
        space = o.space()
        assert space.record.phase is Phase.LIVE and space.program is not None
        assert session.name in space.program.mixer.sources
        assert o.heard.said == [("source", "a")] and space.takeovers == 0

    _run(o, body)


def test_a_newer_source_takes_over_only_once_its_audio_decodes() -> None:
    o = _Origin()

    async def body() -> None:
        first = o.open("a", "k")
        _audio(first)
        newer = o.open("a", "k")
        assert o.space().ingest is first and not first.closed  # a silent socket kicks nobody
        _audio(newer)
        space = o.space()
        assert space.ingest is newer and first.closed and first.ended_by == TAKEN_OVER
        assert space.takeovers == 1 and space.last_takeover == 5.0
        assert ("takeover", "a") in o.heard.said

    _run(o, body)


def test_another_origin_s_newer_source_cuts_off_only_one_on_air_here() -> None:
    o = _Origin()

    async def body() -> None:
        waiting = o.open("a", "k")
        o.sources.newer_source_elsewhere("a")
        assert not waiting.closed  # not sending audio yet: it is the newer one
        _audio(waiting)
        o.sources.newer_source_elsewhere("a")
        assert waiting.closed and waiting.ended_by == TAKEN_OVER and o.space().takeovers == 1
        o.sources.newer_source_elsewhere("unknown")

    _run(o, body)


def test_a_takeover_counted_elsewhere_is_counted_here_and_not_told_again() -> None:
    o = _Origin()

    async def body() -> None:
        o.sources.takeover_counted_elsewhere("a")
        assert o.space().takeovers == 1 and o.heard.said == []

    _run(o, body)


def test_cutting_off_stops_the_source_once() -> None:
    o = _Origin()

    async def body() -> None:
        session = o.open("a", "k")
        assert o.sources.cut_off(o.space(), "key_rotated")
        assert session.closed and session.ended_by == "key_rotated"
        assert not o.sources.cut_off(o.space(), "key_rotated")
        assert o.space().ingest is None  # the ended session left the space

    _run(o, body)


def test_the_losses_of_sources_that_left_are_summed() -> None:
    o = _Origin()

    async def body() -> None:
        session = o.open("a", "k")
        session.dropped_samples = SETTINGS.media.sample_rate // 2
        session.stop()
        session2 = o.open("a", "k")
        session2.dropped_samples = SETTINGS.media.sample_rate
        assert o.sources.metrics()["seconds_dropped"] == 1.5
        assert o.sources.losses["seconds_dropped"] == 0.5

    _run(o, body)
