"""Hosting credentials: what the services need from a store of operator-issued API keys.

A key is shown once, when it is issued, and kept only as its SHA-256 (keys are 32 random
bytes, so a plain hash is as good as a slow one). The store also remembers which key created
which space, so quotas count per key and a revoked key's spaces stop going live. Implementations:
`sqlite_keys` (embedded default), `postgres_keys` (a cluster: shared by every origin).
Never on the listener path.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Protocol

ROLES = ("admin", "host")  # admin: also issues keys and runs operator calls
KEY_PREFIX = "thk_"


@dataclass(frozen=True)
class ApiKey:
    id: str  # short public handle, shown in listings and accepted by revoke
    name: str
    role: str
    key_hash: str
    created_at: float
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def public(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "role": self.role,
                "created_at": self.created_at, "revoked_at": self.revoked_at}


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key(name: str, role: str, now: float) -> tuple[ApiKey, str]:
    """A fresh key and its record: `thk_<id>_<secret>` (the id lets people tell keys apart)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise ValueError("name must be 1 to 100 characters")
    key_id = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    return ApiKey(key_id, name, role, hash_api_key(key), now), key


class KeyStore(Protocol):
    def add(self, key: ApiKey) -> None:
        """Insert a new key (its id is unique)."""

    def by_hash(self, key_hash: str) -> ApiKey | None:
        """The key with this hash, revoked or not."""

    def by_id(self, key_id: str) -> ApiKey | None:
        """The key with this id, revoked or not."""

    def list(self) -> list[ApiKey]:
        """Every key, oldest first."""

    def revoke(self, key_id: str, now: float) -> ApiKey | None:
        """Mark the key revoked (idempotent); None if there is no such key."""

    def record_space(self, space_id: str, owner: str, now: float) -> None:
        """`owner` (a key id, or "admin" for the operator key) created `space_id` at `now`."""

    def owner(self, space_id: str) -> str | None:
        """Who created `space_id` (None if no key did): a space another origin created."""

    def created_since(self, owner: str, since: float) -> tuple[float, ...]:
        """When `owner` created each space after `since`, oldest first: the per-key hourly
        quota, counted over every origin sharing the store."""

    def owners(self) -> dict[str, str]:
        """Space id -> owner, for every space a key created (read once at start)."""

    def close(self) -> None: ...
