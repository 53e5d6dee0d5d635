"""`townhall migrate`: bring the database schema (SQLite or PostgreSQL) up to date."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(mig: argparse.ArgumentParser) -> None:
    mig.add_argument("--database", default=None,
                     help="postgresql://... or a SQLite file (default <data-dir>/townhall.sqlite3)")
    mig.add_argument("--data-dir", default="data")


def run(args: argparse.Namespace) -> int:
    from townhall.store.base import StoreUnavailable
    from townhall.store.schema import Database, migrate

    try:
        db = Database.parse(args.database or str(Path(args.data_dir) / "townhall.sqlite3"))
        before, after = migrate(db)
    except (ValueError, StoreUnavailable) as exc:
        print(f"townhall migrate: {exc}", file=sys.stderr)
        return 2
    what = "already at" if before == after else f"migrated from {before or 'none'} to"
    print(f"{db.shown}: {what} schema {after}")
    return 0
