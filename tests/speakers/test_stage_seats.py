"""The stage's seats as the control API changes them (live/stage/stage_seats.py), with a
store and a host-key check in memory, no sockets: who is asking, every change written
through, a removed live speaker's session ended, a hand refused once the space ended; and
the program factory's talk-back (live/stage/space_speakers.py mix_minus)."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from townhall.live.errors import SpaceError
from townhall.live.stage.space_speakers import SpaceSpeakers, SpeakerSession, mix_minus
from townhall.live.stage.stage_seats import StageSeats
from townhall.settings import Settings
from townhall.space.lifecycle import Phase
from townhall.space.roles import Action, Role, Seat

HOST_KEY = "host-key-1234"


class Store:
    def __init__(self) -> None:
        self.saved: list[tuple[str, list[str]]] = []

    def load_seats(self, space_id: str) -> list[Seat]:
        return []

    def save_seats(self, space_id: str, seats: list[Seat]) -> None:
        self.saved.append((space_id, [s.id for s in seats]))


def _setup() -> tuple[StageSeats, Any, Store, list[str]]:
    store = Store()
    keys = SimpleNamespace(ok=lambda space, key: key == HOST_KEY)
    spaces: Any = SimpleNamespace(store=store, keys=keys, clustered=False)
    ended: list[str] = []

    async def end_session(room: SpaceSpeakers, session: SpeakerSession, reason: str) -> None:
        ended.append(f"{session.seat_id}: {reason}")

    space = SimpleNamespace(record=SimpleNamespace(id="space00001", host="Ada",
                                                   phase=Phase.LIVE),
                            speakers=None, program=None, status={})
    return StageSeats(Settings.of(), spaces, end_session), space, store, ended


def test_the_host_key_and_a_speaker_token_identify_their_seats_and_others_get_401() -> None:
    seats, space, store, _ = _setup()
    host = seats.identify(space, HOST_KEY)
    guest = seats.invite(space, host, "Grace", Role.SPEAKER)
    assert store.saved and guest.id in store.saved[-1][1]  # written through
    token = seats.room(space).stage.token_for(guest)
    assert seats.identify(space, token).id == guest.id
    for bearer, code in ((None, "missing_token"), ("nope", "bad_token")):
        with pytest.raises(SpaceError) as err:
            seats.identify(space, bearer)
        assert (err.value.status, err.value.code) == (401, code)
    doc = seats.seat_doc(space, guest)
    assert doc["token"] == token and doc["speak_url"].endswith(f"#token={token}")


def test_removing_a_live_speaker_ends_its_session_and_a_hand_after_the_end_is_409() -> None:
    seats, space, _, ended = _setup()
    host = seats.identify(space, HOST_KEY)
    guest = seats.invite(space, host, "Grace", Role.SPEAKER)
    room = seats.room(space)
    room.stage.apply(guest, Action.PUBLISH, guest, 0.0)
    room.sessions["s1"] = SpeakerSession(id="s1", seat_id=guest.id, source="src", bearer_hash="",
                                         pc=None, outgoing=None, created=0.0)  # type: ignore[arg-type]
    asyncio.run(seats.act(space, host, guest.id, Action.REMOVE))
    assert ended == [f"{guest.id}: removed from the stage"]
    space.record.phase = Phase.ENDED
    with pytest.raises(SpaceError) as err:
        seats.raise_hand(space, "Late")
    assert (err.value.status, err.value.code) == (409, "space_ended")


def test_the_talkback_skips_spaces_without_sessions_and_never_raises(
        caplog: pytest.LogCaptureFixture) -> None:
    talkback = mix_minus(-45.0)
    calls: list[str] = []
    quiet = SimpleNamespace(sessions={}, on_frame=lambda *a: calls.append("quiet"))
    broken = SimpleNamespace(sessions={"s": 1}, on_frame=lambda *a: 1 / 0)
    for room in (None, quiet, broken):
        talkback(SimpleNamespace(speakers=room, record=SimpleNamespace(id="sp")),  # type: ignore[arg-type]
                 SimpleNamespace())  # type: ignore[arg-type]
    assert calls == []
    assert any("mix-minus for sp" in r.message and r.levelno == logging.ERROR
               for r in caplog.records)
