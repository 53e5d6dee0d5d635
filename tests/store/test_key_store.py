"""API keys on both backends: what one process (origin or `townhall keys`) issues or revokes,
another process sharing the database sees at its next call; nothing is cached."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from townhall.store.factory import Stores
from townhall.store.keys import hash_api_key, new_api_key


def test_a_key_issued_by_one_origin_is_known_and_revoked_on_another(
        open_store: Callable[[], Stores]) -> None:
    one, other = open_store(), open_store()  # two origins on one database
    record, key = new_api_key("Ada", "host", 1000.0)
    one.keys.add(record)
    seen = other.keys.by_hash(hash_api_key(key))
    assert seen is not None and seen.active and seen.id == record.id
    one.keys.record_space("sp1", record.id, 1001.0)
    assert other.keys.owner("sp1") == record.id and other.keys.owner("nope") is None
    assert other.keys.owners() == {"sp1": record.id}
    revoked = other.keys.revoke(record.id, 1002.0)
    assert revoked is not None and not revoked.active
    again = one.keys.by_id(record.id)
    assert again is not None and again.revoked_at == 1002.0
    assert [k.id for k in one.keys.list()] == [record.id]
    assert one.keys.revoke("missing", 1003.0) is None


def test_the_keys_command_writes_where_the_origins_read(database: str,
                                                       open_store: Callable[[], Stores]) -> None:
    stores = open_store()  # migrated, as a served origin leaves it
    made = subprocess.run([sys.executable, "-m", "townhall.cli", "keys", "--database", database,
                           "create", "--role", "host", "--name", "Bo"],
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    assert [k.name for k in stores.keys.list()] == ["Bo"]


def test_a_keys_creations_are_counted_over_every_origin_sharing_the_store(
        open_store: Callable[[], Stores]) -> None:
    one, other = open_store(), open_store()
    one.keys.record_space("s1", "k1", 100.0)
    other.keys.record_space("s2", "k1", 200.0)
    one.keys.record_space("s3", "k2", 250.0)
    other.keys.record_space("s4", "k1", 300.0)
    assert one.keys.created_since("k1", 150.0) == (200.0, 300.0)
    assert other.keys.created_since("k1", 0.0) == (100.0, 200.0, 300.0)
    assert one.keys.created_since("nobody", 0.0) == ()
