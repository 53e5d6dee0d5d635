"""One space as this process holds it: its record and everything live about it.

Data only: the registry (`live.registry.spaces`) makes them; its collaborators (push sources, host
keys, the program factory) change them. Never does I/O.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from townhall.admission.room import Room
from townhall.delivery.listeners import ListenerCounter
from townhall.live.program.program import Program
from townhall.live.sources.session import IngestSession
from townhall.live.stage.space_speakers import SpaceSpeakers
from townhall.space.reactions import Reactions
from townhall.space.space_record import SpaceRecord


@dataclass
class LiveSpace:
    record: SpaceRecord
    listeners: ListenerCounter
    room: Room
    reactions: Reactions = field(default_factory=Reactions)
    status: tuple[float, bytes] | None = None  # (rendered at, JSON bytes): the details cache
    program: Program | None = None
    ingest: IngestSession | None = None
    ingest_seq: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    speakers: SpaceSpeakers | None = None  # the stage and WHIP sessions, once anyone uses it
    # in a cluster, the stage as the origin running the program posted it (live.shared_stage):
    # (read at, monotonic; the stage part of the details)
    shared_stage: tuple[float, dict[str, Any]] | None = None
    takeovers: int = 0  # times a newer source with the key replaced the one on air
    last_takeover: float | None = None
    key_read: float = float("-inf")  # when the host key hash was last read from the store
