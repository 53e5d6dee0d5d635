"""Host keys: whether a key is a space's host key now, and rotating it.

Service. Only a hash of each space's host key is kept (`space.space_record`). In a cluster the
hash is the shared store's, re-read at most `key_check_ttl_s` after it was last read (at
once after another origin announced a rotation); with the store away a hash read within
`key_stale_max_s` still counts, else a 503. A rotation is a compare-and-set in the store (of
two at once on two origins, one wins); it cuts off the source on air, ends the host's
sessions that used the old key and is announced to the other origins. Blocking reads of the
store: control path only, never on the listener path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from townhall.live.cluster_sync.news import Announce
from townhall.live.errors import SpaceError
from townhall.live.registry.live_space import LiveSpace
from townhall.settings import Settings
from townhall.space.space_record import hash_key, key_matches, new_host_key
from townhall.store.base import SpaceStore, StoreUnavailable

KEY_ROTATED = "key_rotated"  # IngestSession.ended_by: the source's key stopped working


class HostKeys:
    def __init__(self, settings: Settings, store: SpaceStore, *, shared: bool,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.store = store
        # other processes write this store: a cached hash may be stale (decided in web.app)
        self.shared = shared
        self.clock = clock

    def ok(self, space: LiveSpace, key: str | None) -> bool:
        """Whether `key` is the space's host key now. Blocking when the store is shared;
        raises SpaceError 503 while the store is away and the copy is too old."""
        if not key:
            return False
        if self.shared:
            self._fresh_hash(space)
        return key_matches(key, space.record.host_key_hash)

    def forget(self, space: LiveSpace) -> None:
        """The hash may have changed elsewhere: read it again before the next check."""
        space.key_read = float("-inf")

    def _fresh_hash(self, space: LiveSpace) -> None:
        s = self.settings
        now = self.clock()
        if now - space.key_read < s.cluster.key_check_ttl_s:
            return
        try:
            stored = self.store.key_hash(space.record.id)
        except StoreUnavailable:
            if now - space.key_read < s.cluster.key_stale_max_s:
                return
            raise SpaceError(503, "store_unavailable", "the database is unreachable for a "
                             "moment; try again shortly",
                             retry_after=s.store.store_retry_after_s) from None
        if stored is not None:
            space.record.host_key_hash = stored
        space.key_read = now

    async def replace(self, space: LiveSpace) -> str:
        """A new host key in the store (compare-and-set against the hash held here)."""
        key = new_host_key()
        old, new = space.record.host_key_hash, hash_key(key)
        if not await asyncio.to_thread(self.store.replace_key_hash, space.record.id, old, new):
            self.forget(space)
            raise SpaceError(409, "key_changed", "the host key was changed meanwhile (on "
                             "another origin); use the current key")
        space.record.host_key_hash = new
        space.key_read = self.clock()
        return key


class KeyRotation:
    """What follows a new host key, here or announced by another origin."""

    def __init__(self, keys: HostKeys, known: Callable[[str], LiveSpace | None],
                 cut_off: Callable[[LiveSpace, str], bool], announce: Announce,
                 on_rotated: Sequence[Callable[[LiveSpace], Awaitable[None]]] = ()) -> None:
        self.keys = keys
        self.known = known  # a space this process holds, by id (Spaces.known)
        self.cut_off = cut_off  # stops the source on air (PushSources.cut_off)
        self.announce = announce
        # awaited after the source is cut off: the host's sessions that used the old key end
        self.on_rotated = tuple(on_rotated)

    async def rotate(self, space: LiveSpace) -> str:
        """A new host key; the old one stops working at once (a leaked key is useless)."""
        key = await self.keys.replace(space)
        self.announce("host_key", space.record.id)
        await self._old_key_gone(space)
        return key

    async def rotated_elsewhere(self, space_id: str) -> None:
        """Another origin rotated the space's host key: forget the hash, cut off the source
        and end the host's sessions that used the old key here."""
        space = self.known(space_id)
        if space is None:
            return
        self.keys.forget(space)
        await self._old_key_gone(space)

    async def _old_key_gone(self, space: LiveSpace) -> None:
        self.cut_off(space, KEY_ROTATED)
        for hook in self.on_rotated:
            await hook(space)
