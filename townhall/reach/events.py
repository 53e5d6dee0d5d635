"""Webhook event types and payloads (Standard Webhooks' `{type, timestamp, data}`). Core.

An event's id is derived from what happened (its type, the space, and for a peak the value),
never from when an origin noticed it: every origin of a cluster, and the same origin after a
restart, derives the same id, and the queue keeps (endpoint, event id) once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from townhall.space.space_record import SpaceRecord, iso

TYPES = ("space.scheduled", "space.live", "space.ended", "replay.ready", "replay.withdrawn",
         "listeners.peak", "captions.ready")


@dataclass(frozen=True)
class SpaceEvent:
    type: str
    space_id: str
    at: float  # when it happened (epoch seconds): endpoints made later do not get it
    key: str  # what makes it unique beyond type and space (a peak's value)
    data: dict[str, Any]

    @property
    def id(self) -> str:
        return event_id(self.type, self.space_id, self.key)

    def body(self) -> str:
        return json.dumps({"type": self.type, "timestamp": iso(self.at), "data": self.data},
                          separators=(",", ":"), ensure_ascii=False)


def event_id(kind: str, space_id: str, key: str = "") -> str:
    digest = hashlib.sha256(f"{kind}:{space_id}:{key}".encode()).hexdigest()
    return "msg_" + digest[:26]


def captions_ready(r: SpaceRecord, base_url: str, default_at: float) -> SpaceEvent:
    """The one captions.ready of a space: its replay's transcript is out (dated by the end)."""
    data = {**space_data(r, base_url), "transcript_url": f"{base_url}/replay/{r.id}/transcript.vtt"}
    return SpaceEvent("captions.ready", r.id, r.ended_at or default_at, "", data)


def space_data(r: SpaceRecord, base_url: str) -> dict[str, Any]:
    sid = r.id
    return {"space_id": sid, "title": r.title, "host": r.host, "state": r.phase.value,
            "page_url": f"{base_url}/spaces/{sid}", "embed_url": f"{base_url}/embed/{sid}",
            "scheduled_start": iso(r.scheduled_start), "started": iso(r.actual_start),
            "ended": iso(r.ended_at), "peak_listeners": r.peak_listeners,
            "replay_download_url": f"{base_url}/replay/{sid}.m4a" if r.has_replay else None}
