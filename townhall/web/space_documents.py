"""The JSON documents that describe a space: its details, the signing key, the ingest URL.

Edge. The details document is what every listener polls (`GET /api/spaces/{id}`): it is
rendered at most once per `status_refresh_s` per space and served as the same bytes in
between, so a crowd polling it costs one render a second, never a database read. It carries
the join grant (any origin admits with it) and the latency tier announced to new joiners
when the app gives those; a space's URLs come from `space.urls`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from townhall.live.registry.live_space import LiveSpace
from townhall.live.registry.spaces import Spaces
from townhall.live.stage.space_speakers import stage_status
from townhall.recording.signing import ALGORITHM, SigningIdentity
from townhall.settings import Settings
from townhall.space.lifecycle import shown_state
from townhall.space.space_record import iso
from townhall.space.urls import space_urls

# (space, listeners in all now, now) -> the grant / the tier fields of the details
JoinGrant = Callable[[LiveSpace, int, float], str | None]
LatencyTier = Callable[[LiveSpace, int, float], dict[str, str]]


class SpaceDocuments:
    def __init__(self, settings: Settings, spaces: Spaces,
                 identity: SigningIdentity | None = None, *,
                 join_grant: JoinGrant | None = None,
                 latency_tier: LatencyTier | None = None) -> None:
        self.settings = settings
        self.spaces = spaces
        self.identity = identity  # the deployment's signing key, when it signs
        self.join_grant = join_grant  # any-origin admissions (live.grant_admission)
        self.latency_tier = latency_tier  # delivery.latency_tier, with the origin's pressure

    def status_bytes(self, space: LiveSpace, now: float) -> bytes:
        """The details document, rendered at most once per refresh interval per space."""
        cached = space.status
        if cached is not None and now - cached[0] < self.settings.delivery.status_refresh_s:
            return cached[1]
        body = json.dumps(self.details(space, now), ensure_ascii=False).encode()
        space.status = (now, body)
        return body

    def urls(self, space: LiveSpace) -> dict[str, Any]:
        return space_urls(self.settings.listen.base_url, space.record)

    def details(self, space: LiveSpace, now: float) -> dict[str, Any]:
        r = space.record
        listeners = self.spaces.listeners_now(space, now)
        return {
            "id": r.id,
            "title": r.title,
            "host": r.host,
            "state": shown_state(r.phase, r.scheduled_start, now),
            "scheduled_start": iso(r.scheduled_start),
            "actual_start": iso(r.actual_start),
            "ended_at": iso(r.ended_at),
            "listener_cap": r.listener_cap,
            "listeners": {"now": listeners,
                          "peak": max(r.peak_listeners, space.listeners.peak)},
            "waiting": space.room.queued,
            "reactions": space.reactions.snapshot(now),
            "on_air": bool(space.program and space.program.ready),
            "join_grant": self.join_grant(space, listeners, now) if self.join_grant else None,
            **(self.latency_tier(space, listeners, now) if self.latency_tier else {}),
            **stage_status(space, self.settings),
            **self.urls(space),
            "signing_key": self.signing_key(),
            "server_time": iso(now),
        }

    def signing_key(self) -> dict[str, str] | None:
        if self.identity is None:
            return None
        return {"algorithm": ALGORITHM,
                "fingerprint": self.identity.fingerprint,
                "url": f"{self.settings.listen.base_url}/.well-known/townhall-signing.json"}

    def ingest_url(self, space: LiveSpace, key: str) -> str:
        s = self.settings
        if s.listen.ingest_public_url:  # an edge forwards chunked pushes: http://source:KEY@edge/...
            scheme, _, rest = s.listen.ingest_public_url.rstrip("/").partition("://")
            return f"{scheme}://source:{key}@{rest}/ingest/{space.record.id}"
        return f"icecast://source:{key}@{s.listen.ingest_host}:{s.listen.ingest_port}/ingest/{space.record.id}"
