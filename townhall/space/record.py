"""A space's durable record and the validation of what a host may ask for. No I/O."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from townhall.space.lifecycle import Phase

ID_RE = re.compile(r"^[a-z0-9]{10}$")


def new_space_id() -> str:
    alphabet = "abcdefghijkmnopqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(10))


def new_host_key() -> str:
    return secrets.token_urlsafe(24)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_matches(key: str, key_hash: str) -> bool:
    return hmac.compare_digest(hash_key(key), key_hash)


@dataclass
class SpaceRecord:
    id: str
    title: str
    host: str
    host_key_hash: str
    created_at: float
    scheduled_start: float | None = None
    listener_cap: int | None = None
    phase: Phase = Phase.SCHEDULED
    actual_start: float | None = None
    ended_at: float | None = None
    peak_listeners: int = 0
    has_replay: bool = False


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


def parse_iso(value: str) -> float:
    """An ISO 8601 time; naive times are taken as UTC. Raises ValueError with a reason."""
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"scheduled_start {value!r} is not an ISO 8601 time") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
