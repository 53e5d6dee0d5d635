"""What the services need from the cluster's shared fast state. Implementations: `solo` (one
process, in memory: the embedded default) and `redis_cluster` (several origins).

A space's program runs on the origin holding its lease; `append` is fenced by the lease, so an
origin that lost it can never publish again. Every method may raise `ClusterUnavailable` (the
shared state is away); callers keep serving from memory and retry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Protocol

from townhall.admission.room import Room
from townhall.admission.waiting_room import WaitingRoom
from townhall.cluster.entries import Entry


class ClusterUnavailable(Exception):
    """The shared state (Redis) cannot be reached now."""


class Renewal(Enum):
    HELD = "held"  # still ours
    LOST = "lost"  # someone else holds it: stop publishing at once
    HAND_OVER = "hand_over"  # another origin has the space's source: let it take the program
    END = "end"  # an origin asked to end the space: end the program


class Cluster(Protocol):
    origin: str  # this origin's name in leases and counts

    # --- leases on live spaces' programs ---
    async def acquire(self, space_id: str) -> bool:
        """Take the lease if it is free (or already ours)."""

    async def renew(self, space_id: str) -> Renewal:
        """Extend our lease, and hear whether another origin wants the program or its end."""

    async def release(self, space_id: str) -> None: ...

    async def holder(self, space_id: str) -> str | None: ...

    async def want(self, space_id: str) -> None:
        """This origin has the space's source: the holder should hand the program over."""

    async def wanted_by(self, space_id: str) -> str | None: ...

    async def ask_end(self, space_id: str) -> None:
        """Ask the holder to end the program (its renewal answers END)."""

    # --- the replicated program ---
    async def append(self, space_id: str, entries: list[Entry]) -> bool:
        """Add entries to the space's part stream if we hold the lease; False if we do not."""

    async def read(self, space_id: str, after: str, block_s: float) -> list[tuple[str, Entry]]:
        """Entries after stream id `after` ("0" for all kept), waiting up to block_s."""

    async def live_spaces(self) -> set[str]:
        """Spaces whose program runs somewhere in the cluster (kept fresh by renewals)."""

    async def set_live(self, space_id: str, live: bool) -> None: ...

    # --- listener counts ---
    async def report_listeners(self, space_id: str, count: int, ttl_s: float) -> None:
        """This origin counts `count` listeners of the space now (forgotten after ttl_s)."""

    async def listeners(self, space_id: str) -> dict[str, int]:
        """Each origin's fresh listener count of the space."""

    # --- captions: the subtitle segments the program's holder published ---
    async def put_subtitles(self, space_id: str, msn: int, body: bytes, keep: int) -> None:
        """The holder published subtitle segment `msn` (the newest `keep` are kept)."""

    async def subtitles(self, space_id: str, after: int) -> list[tuple[int, bytes]]:
        """The subtitle segments the holder published after number `after`, oldest first."""

    # --- news between origins (security state changed: drop cached copies) ---
    async def announce(self, topic: str, ident: str) -> None:
        """Tell every other origin that `topic` changed for `ident` (a space id)."""

    async def listen(self, heard: Callable[[str, str], Awaitable[None]]) -> None:
        """Call `heard(topic, ident)` for each other origin's announcement, until cancelled;
        raises ClusterUnavailable when the subscription breaks (announcements may be lost:
        callers re-read what they cache within a bounded time anyway)."""

    # --- waiting rooms ---
    def room(self, space_id: str, local: WaitingRoom) -> Room:
        """The space's seats and waiting room: `local` (this process's) or one shared by the
        cluster (a capped space's, in Redis), with `local` as its fallback."""

    async def close(self) -> None: ...
