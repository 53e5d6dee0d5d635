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
TAG_RE = re.compile(r"^[a-z0-9]{1,3}$")


def new_space_id(origin_tag: str = "") -> str:
    """Ten characters; with several origins, the first ones are the tag of the origin that
    owns the space, so an edge routes every request of the space to it (`edge_config`)."""
    if origin_tag and not TAG_RE.match(origin_tag):
        raise ValueError("an origin tag is 1 to 3 characters of a-z and 0-9")
    alphabet = "abcdefghijkmnopqrstuvwxyz23456789"
    return origin_tag + "".join(secrets.choice(alphabet) for _ in range(10 - len(origin_tag)))


def new_secret(nbytes: int = 24) -> str:
    """A URL-safe secret a person may paste after a command-line flag: never starting with '-'
    (argparse would read `--key -abc` as a missing value and another option) nor '_'."""
    while True:
        token = secrets.token_urlsafe(nbytes)
        if token[0].isalnum():
            return token


def new_host_key() -> str:
    return new_secret(24)


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
    # the host's captions switch; None: the operator's default (`--captions`). Written at
    # insert and then only by `SpaceStore.set_captions`, like the key hash, so a save from
    # another origin's older copy never switches it back (docs/captions.md)
    captions: bool | None = None


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
