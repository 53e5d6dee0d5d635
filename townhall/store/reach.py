"""The reach tables: webhook endpoints, their delivery queue and log, analytics rows, and
the seats' listening spans (merged across origins on write).

One implementation for both dialects: the SQL is written once with `?` placeholders and run
on SQLite (its own connection, WAL, as the key store) or on the shared PostgreSQL pool (`%s`).
Every call is blocking and belongs on a worker thread of the control path; never on the
listener path. Claims are compare-and-set on `next_at`, so when several origins share the
queue each delivery attempt is made by one of them.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from townhall.admission.listening import SeatSpan

if TYPE_CHECKING:
    from townhall.store.postgres import Postgres

ENDPOINT_COLUMNS = "id, owner, url, secret, events, created_at, deleted_at"
DELIVERY_COLUMNS = "seq, endpoint_id, event_id, event_type, body, created_at, next_at, " \
                   "attempts, state"
SAMPLE_COLUMNS = "at, listeners, joins, leaves, reactions, waiting, uniques"
SEAT_COLUMNS = "first_at, last_at, until_at, gap_s, left_at"


def _keep(op: str, column: str) -> str:
    """`column` = the smaller (`<`) or larger (`>`) of the stored and the written value, in
    SQL both dialects read (no LEAST/GREATEST in SQLite, no two-argument MIN in PostgreSQL);
    a NULL on either side keeps the other."""
    old, new = f"listening_seats.{column}", f"excluded.{column}"
    return (f"{column} = CASE WHEN {old} IS NULL OR ({new} IS NOT NULL AND {new} {op} {old}) "
            f"THEN {new} ELSE {old} END")


@dataclass(frozen=True)
class Endpoint:
    id: str
    owner: str  # "admin" or a hosting API key's id
    url: str
    secret: str  # whsec_<base64>: shown to its owner, used to sign
    events: tuple[str, ...]
    created_at: float
    deleted_at: float | None = None

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "events": list(self.events),
                "created_at": self.created_at}


@dataclass(frozen=True)
class Delivery:
    seq: int
    endpoint_id: str
    event_id: str
    event_type: str
    body: str
    created_at: float
    next_at: float
    attempts: int
    state: str  # pending | delivered | failed


@dataclass(frozen=True)
class Sample:
    at: float
    listeners: int
    joins: int
    leaves: int
    reactions: int
    waiting: int
    uniques: int


def _endpoint(row: Sequence[Any]) -> Endpoint:
    return Endpoint(row[0], row[1], row[2], row[3], tuple(filter(None, row[4].split(","))),
                    float(row[5]), None if row[6] is None else float(row[6]))


class ReachStore:
    def __init__(self, *, path: Path | None = None, pg: Postgres | None = None) -> None:
        self._pg = pg
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        if pg is None:
            assert path is not None
            self._conn = sqlite3.connect(str(path), check_same_thread=False,
                                         isolation_level=None, timeout=10)
            with self._lock:
                self._conn.execute("PRAGMA journal_mode=WAL")

    def _run(self, sql: str, args: Sequence[Any] = (), *, rows: bool = False) -> Any:
        """Rows (a list) when `rows`, else the number of rows changed."""
        if self._pg is not None:
            with self._pg.transaction() as conn:
                pg_cur = conn.execute(sql.replace("?", "%s"), tuple(args))
                return pg_cur.fetchall() if rows else pg_cur.rowcount
        assert self._conn is not None
        with self._lock:
            cur = self._conn.execute(sql, tuple(args))
            return cur.fetchall() if rows else cur.rowcount

    # --- endpoints ---
    def add_endpoint(self, e: Endpoint) -> None:
        self._run(f"INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) VALUES (?,?,?,?,?,?,?)",
                  (e.id, e.owner, e.url, e.secret, ",".join(e.events), e.created_at, None))

    def endpoints(self, owner: str | None = None) -> list[Endpoint]:
        """Live endpoints (not deleted), oldest first; all owners' when `owner` is None."""
        where = "deleted_at IS NULL" + (" AND owner = ?" if owner is not None else "")
        found = self._run(f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE {where} "
                          "ORDER BY created_at, id", () if owner is None else (owner,),
                          rows=True)
        return [_endpoint(r) for r in found]

    def endpoint(self, endpoint_id: str) -> Endpoint | None:
        found = self._run(f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ? "
                          "AND deleted_at IS NULL", (endpoint_id,), rows=True)
        return _endpoint(found[0]) if found else None

    def delete_endpoint(self, endpoint_id: str, now: float) -> None:
        self._run("UPDATE webhook_endpoints SET deleted_at = ? WHERE id = ?", (now, endpoint_id))
        self._run("UPDATE webhook_deliveries SET state = 'dropped' WHERE endpoint_id = ? AND "
                  "state = 'pending'", (endpoint_id,))

    # --- the queue ---
    def enqueue(self, endpoint_id: str, event_id: str, event_type: str, body: str,
                now: float) -> bool:
        """Queue an event for an endpoint once: False if it was queued before (by any
        origin, before or after a restart)."""
        changed: int = self._run(
            "INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, body, "
            "created_at, next_at) VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING",
            (endpoint_id, event_id, event_type, body, now, now))
        return changed == 1

    def heads(self) -> list[Delivery]:
        """Each endpoint's oldest pending delivery: the only one that may be tried (in order
        per endpoint)."""
        found = self._run(
            f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE seq IN (SELECT MIN(seq) "
            "FROM webhook_deliveries WHERE state = 'pending' GROUP BY endpoint_id)", rows=True)
        return [Delivery(*r) for r in found]

    def claim(self, d: Delivery, until: float) -> bool:
        """Take the delivery for one attempt (compare-and-set on next_at)."""
        changed: int = self._run(
            "UPDATE webhook_deliveries SET next_at = ? WHERE seq = ? AND next_at = ? AND "
            "state = 'pending'", (until, d.seq, d.next_at))
        return changed == 1

    def finish(self, d: Delivery, state: str, next_at: float) -> None:
        """After an attempt: delivered, failed (given up), or pending again at next_at."""
        self._run("UPDATE webhook_deliveries SET state = ?, next_at = ?, attempts = attempts "
                  "+ 1 WHERE seq = ?", (state, next_at, d.seq))

    def pending(self, endpoint_id: str) -> int:
        found = self._run("SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = ? AND "
                          "state = 'pending'", (endpoint_id,), rows=True)
        return int(found[0][0])

    # --- the delivery log ---
    def log_attempt(self, d: Delivery, at: float, status: int | None, error: str | None,
                    duration_ms: int, keep: int) -> None:
        self._run("INSERT INTO webhook_attempts (endpoint_id, event_id, event_type, at, status, "
                  "error, duration_ms) VALUES (?,?,?,?,?,?,?)",
                  (d.endpoint_id, d.event_id, d.event_type, at, status, error, duration_ms))
        self._run("DELETE FROM webhook_attempts WHERE endpoint_id = ? AND seq <= (SELECT seq "
                  "FROM webhook_attempts WHERE endpoint_id = ? ORDER BY seq DESC LIMIT 1 "
                  "OFFSET ?)", (d.endpoint_id, d.endpoint_id, keep))

    def attempts(self, endpoint_id: str, limit: int) -> list[dict[str, Any]]:
        found = self._run("SELECT event_id, event_type, at, status, error, duration_ms FROM "
                          "webhook_attempts WHERE endpoint_id = ? ORDER BY seq DESC LIMIT ?",
                          (endpoint_id, limit), rows=True)
        return [{"event_id": r[0], "type": r[1], "at": float(r[2]), "status": r[3],
                 "error": r[4], "duration_ms": int(r[5])} for r in found]

    # --- analytics ---
    def add_sample(self, space_id: str, s: Sample, keep: int) -> None:
        self._run(f"INSERT INTO analytics_samples (space_id, {SAMPLE_COLUMNS}) VALUES "
                  "(?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                  (space_id, s.at, s.listeners, s.joins, s.leaves, s.reactions, s.waiting,
                   s.uniques))
        self._run("DELETE FROM analytics_samples WHERE space_id = ? AND at <= (SELECT at FROM "
                  "analytics_samples WHERE space_id = ? ORDER BY at DESC LIMIT 1 OFFSET ?)",
                  (space_id, space_id, keep))

    def samples(self, space_id: str) -> list[Sample]:
        found = self._run(f"SELECT {SAMPLE_COLUMNS} FROM analytics_samples WHERE space_id = ? "
                          "ORDER BY at", (space_id,), rows=True)
        return [Sample(float(r[0]), *(int(v) for v in r[1:])) for r in found]

    # --- listening seats ---
    def put_seats(self, rows: list[tuple[str, str, SeatSpan]]) -> None:
        """One origin's view of these seats, merged with the others' (admission/listening.py)."""
        merge = ", ".join([_keep("<", "first_at"), _keep(">", "last_at"),
                           _keep(">", "until_at"), _keep("<", "gap_s"), _keep(">", "left_at")])
        sql = (f"INSERT INTO listening_seats (space_id, seat, {SEAT_COLUMNS}) VALUES "
               f"(?,?,?,?,?,?,?) ON CONFLICT (space_id, seat) DO UPDATE SET {merge}")
        args = [(sid, seat, s.first, s.last, s.until, s.gap, s.left) for sid, seat, s in rows]
        if not args:
            return
        if self._pg is not None:
            with self._pg.transaction() as conn, conn.cursor() as cur:
                cur.executemany(sql.replace("?", "%s"), args)
            return
        assert self._conn is not None
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                self._conn.executemany(sql, args)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def seats(self, space_id: str) -> list[SeatSpan]:
        found = self._run(f"SELECT {SEAT_COLUMNS} FROM listening_seats WHERE space_id = ?",
                          (space_id,), rows=True)
        return [SeatSpan(float(r[0]), float(r[1]), float(r[2]),
                         None if r[3] is None else float(r[3]),
                         None if r[4] is None else float(r[4])) for r in found]

    # --- transcripts ---
    def put_transcript(self, space_id: str, segments: list[tuple[int, str]]) -> None:
        """Captions segments (number, WebVTT) of a space; a number written before is kept."""
        for msn, body in segments:
            self._run("INSERT INTO transcript_segments (space_id, msn, body) VALUES (?,?,?) "
                      "ON CONFLICT DO NOTHING", (space_id, msn, body))

    def transcript(self, space_id: str) -> list[tuple[int, str]]:
        found = self._run("SELECT msn, body FROM transcript_segments WHERE space_id = ? "
                          "ORDER BY msn", (space_id,), rows=True)
        return [(int(r[0]), str(r[1])) for r in found]

    def has_transcript(self, space_id: str) -> bool:
        found = self._run("SELECT 1 FROM transcript_segments WHERE space_id = ? LIMIT 1",
                          (space_id,), rows=True)
        return bool(found)

    def close(self) -> None:
        if self._conn is not None:
            with self._lock:
                self._conn.close()
