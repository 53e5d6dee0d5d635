"""What the cluster's durable store costs and how it rides out a restart: PostgreSQL against
the embedded files, on the same machine.

Measured through the RecordingStore and SpaceStore Protocols (what the services call):
- per part journalled (one append, ~2.6 KB at 64 kb/s) and per segment closed (~18 KB with
  its manifest entry): p50 / p99 latency, writer-thread side;
- reading back an hour's replay (1,607 segments, ~29 MB) as /replay/ID.m4a does: MB/s;
- a PostgreSQL restart (pg_ctl stop, 3 s, start): how fast a call is refused while it is
  down, and how long after the start the store answers again (the watcher's probe).
PostgreSQL runs with fsync on here (the tests' cluster does not), like the fsynced files.
Outputs bench/out/store_costs.json. Run: .venv/bin/python bench/store_costs.py  (~2 min)
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.postgres import Postgres, start_postgres
from townhall.recording import journal
from townhall.recording.manifest import RecordingManifest
from townhall.settings import Settings
from townhall.store.base import StoreUnavailable
from townhall.store.factory import Stores, open_stores

ROOT = Path(__file__).resolve().parent.parent

PART = bytes(2600)
SEGMENT = bytes(18_200)
HOUR = 1607  # 2.24 s segments


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def record_and_read(stores: Stores, space: str, segments: int) -> dict[str, Any]:
    rec = stores.recordings
    rec.put_init(space, b"init")
    manifest = RecordingManifest.start(space, b"init")
    parts, closes = [], []
    for msn in range(segments):
        for i in range(7):
            if i == 0:
                blob = journal.header(msn, 1.7e9 + msn, False) + journal.record(PART, 0.32)
                parts.append(timed(lambda b=blob: rec.write_journal(space, b)))
                length = len(blob)
            else:
                blob = journal.record(PART, 0.32)
                parts.append(timed(lambda b=blob, at=length: rec.append_journal(space, b, at)))
                length += len(blob)
        entry = manifest.append(msn, SEGMENT + msn.to_bytes(4, "big"), 2.24, 1.7e9 + msn, False)
        closes.append(timed(lambda e=entry: rec.close_segment(
            space, e, SEGMENT + e.msn.to_bytes(4, "big"), manifest)))
    t0 = time.perf_counter()
    stored = rec.manifest(space)
    assert stored is not None
    size = sum(len(rec.segment(space, e) or b"") for e in stored.segments)
    read_s = time.perf_counter() - t0
    ms = 1000.0
    return {"part_append_ms": {"p50": pct(parts, 0.5) * ms, "p99": pct(parts, 0.99) * ms},
            "segment_close_ms": {"p50": pct(closes, 0.5) * ms, "p99": pct(closes, 0.99) * ms},
            "replay_read_mb_s": size / read_s / 1e6, "replay_mb": size / 1e6,
            "segments": segments}


def restart(pg: Postgres, stores: Stores) -> dict[str, Any]:
    stores.ping()
    pg.stop()
    refusals = []
    t_stop = time.monotonic()
    while time.monotonic() - t_stop < 3.0:
        t0 = time.perf_counter()
        try:
            stores.ping()
        except StoreUnavailable:
            refusals.append(time.perf_counter() - t0)
        time.sleep(0.05)
    pg.start()
    started = time.monotonic()
    while True:
        try:
            stores.ping()
            break
        except StoreUnavailable:
            time.sleep(0.02)
    return {"refused_calls": len(refusals),
            "refusal_ms": {"p50": statistics.median(refusals) * 1000,
                           "max": max(refusals) * 1000},
            "back_after_start_s": time.monotonic() - started}


def main() -> int:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = open_stores(Settings.of(data_dir=Path(tmp)))
        try:
            out["files"] = record_and_read(files, "f1", HOUR)
        finally:
            files.close()
        pg = start_postgres(durable=True)  # fsync on, as the files are
        try:
            url = pg.new_database()
            stores = open_stores(Settings.of(data_dir=Path(tmp), database_url=url,
                                          migrate_on_start=True))
            try:
                out["postgresql"] = record_and_read(stores, "p1", HOUR)
                out["postgresql_restart"] = restart(pg, stores)
            finally:
                stores.close()
        finally:
            pg.close()
    path = ROOT / "bench" / "out" / "store_costs.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
