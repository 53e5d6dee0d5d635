"""`townhall keys`: issue, list and revoke the operator's hosting API keys (SQLite or, for a
cluster, PostgreSQL, where every origin sees them at once)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(keys: argparse.ArgumentParser) -> None:
    keys.add_argument("--data-dir", default="data")
    keys.add_argument("--database", default=None,
                      help="SQLite file (default in data dir) or postgresql://...")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="issue a key (printed once)")
    create.add_argument("--name", required=True, help="who the key is for")
    create.add_argument("--role", default="host", choices=["host", "admin"])
    keys_sub.add_parser("list", help="every key, without secrets")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("id")


def run(args: argparse.Namespace) -> int:
    import time

    from townhall.store.base import StoreUnavailable
    from townhall.store.keys import KeyStore, new_api_key
    from townhall.store.schema import Database, SchemaError, check

    try:
        db = Database.parse(args.database or str(Path(args.data_dir) / "townhall.sqlite3"))
        store: KeyStore
        if db.url is not None:  # a cluster's keys: every origin sees them at once
            from townhall.store.postgres import Postgres
            from townhall.store.postgres_keys import PostgresKeyStore

            check(db, migrate_if_old=False)
            pool = Postgres(db.url, pool_size=1, timeout_s=5.0, retry_s=1.0)
            store = PostgresKeyStore(pool)
        else:
            from townhall.store.sqlite_keys import SqliteKeyStore

            assert db.path is not None
            pool = None
            store = SqliteKeyStore(db.path)
    except (ValueError, SchemaError, StoreUnavailable) as exc:
        print(f"keys: {exc}", file=sys.stderr)
        return 2
    try:
        if args.keys_command == "create":
            try:
                record, key = new_api_key(args.name, args.role, time.time())
            except ValueError as exc:
                print(f"keys create: {exc}", file=sys.stderr)
                return 2
            store.add(record)
            print(json.dumps({**record.public(), "key": key}))
        elif args.keys_command == "list":
            for k in store.list():
                print(json.dumps(k.public()))
        else:
            revoked = store.revoke(args.id, time.time())
            if revoked is None:
                print(f"keys revoke: no key with id {args.id!r}", file=sys.stderr)
                return 1
            print(json.dumps(revoked.public()))
    except StoreUnavailable as exc:
        print(f"keys: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
        if pool is not None:
            pool.close()
    return 0
