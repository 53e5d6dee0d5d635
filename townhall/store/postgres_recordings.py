"""PostgreSQL recording store: closed segments' bytes, the manifest index and the open
segment's journal, in the database every origin shares (migration 0002); the verifiable
record's key seal, checkpoints and withdrawal beside them (migration 0003); the signed
download, kept once for every origin (migration 0005).

So any origin serves any replay, and a segment is durable off the origin's disk the moment
it is stored. A closed segment's row and the journal's removal commit together; segment rows
carry their manifest entry, so the manifest is rebuilt from the index, never kept as a blob.
Never on a live listener's path: the live window is in memory.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from townhall.recording.manifest import RecordingManifest, SegmentEntry
from townhall.store.postgres import Postgres

ENTRY = ["msn", "file", "bytes", "duration", "program_date_time", "discontinuity", "sha256",
         "chain", "frames", "frames_sha256"]
INSERT_SEGMENT = (f"INSERT INTO recording_segments (space_id, {', '.join(ENTRY)}, data) "
                  f"VALUES (%s, {', '.join('%s' for _ in ENTRY)}, %s) "
                  "ON CONFLICT (space_id, msn) DO NOTHING")


def _text(doc: dict[str, Any] | None) -> str | None:
    """A signed document as JSON text (its `payload` string is kept byte for byte)."""
    return None if doc is None else json.dumps(doc, separators=(",", ":"))


def _entry_row(entry: SegmentEntry) -> list[Any]:
    return [getattr(entry, name) for name in ENTRY]


class PostgresRecordings:
    def __init__(self, db: Postgres) -> None:
        self.db = db

    def put_init(self, space_id: str, init: bytes) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO recordings (space_id, init, init_sha256) VALUES (%s, %s, %s) "
                "ON CONFLICT (space_id) DO NOTHING",
                (space_id, init, hashlib.sha256(init).hexdigest()))

    def close_segment(self, space_id: str, entry: SegmentEntry, data: bytes,
                      manifest: RecordingManifest) -> None:
        with self.db.transaction() as conn:
            conn.execute(INSERT_SEGMENT, [space_id, *_entry_row(entry), data])
            conn.execute("UPDATE recordings SET journal = NULL, manifest_init = %s, "
                         "updated_at = now() WHERE space_id = %s", (manifest.init, space_id))

    def put_manifest(self, space_id: str, manifest: RecordingManifest) -> None:
        # the entries are rows stored by close_segment: only the seal is left to write
        with self.db.transaction() as conn:
            conn.execute("UPDATE recordings SET complete = %s, signature = %s, "
                         "manifest_init = %s, key_seal = %s, updated_at = now() "
                         "WHERE space_id = %s",
                         (manifest.complete, manifest.signature, manifest.init,
                          _text(manifest.key_seal), space_id))

    def write_journal(self, space_id: str, data: bytes) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE recordings SET journal = %s WHERE space_id = %s",
                         (data, space_id))

    def append_journal(self, space_id: str, data: bytes, at: int) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE recordings SET journal = substring(journal for %s) || %s "
                         "WHERE space_id = %s AND octet_length(journal) >= %s",
                         (at, data, space_id, at))

    def remove_journal(self, space_id: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE recordings SET journal = NULL WHERE space_id = %s",
                         (space_id,))

    def journal(self, space_id: str) -> bytes | None:
        return self._column(space_id, "journal")

    def init(self, space_id: str) -> bytes | None:
        return self._column(space_id, "init")

    def _column(self, space_id: str, column: str) -> bytes | None:
        with self.db.transaction() as conn:
            row = conn.execute(f"SELECT {column} FROM recordings WHERE space_id = %s",
                               (space_id,)).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def manifest(self, space_id: str) -> RecordingManifest | None:
        with self.db.transaction() as conn:
            head = conn.execute("SELECT init_sha256, complete, signature, key_seal, "
                                "manifest_init FROM recordings WHERE space_id = %s",
                                (space_id,)).fetchone()
            if head is None:
                return None
            rows = conn.execute(f"SELECT {', '.join(ENTRY)} FROM recording_segments "
                                "WHERE space_id = %s ORDER BY msn", (space_id,)).fetchall()
        if not rows and not head[1]:
            return None  # nothing closed yet: as with files, no manifest before a segment
        segments = [SegmentEntry(*row) for row in rows]
        return RecordingManifest(space_id, head[0], segments, head[1], head[2],
                                 None if head[3] is None else json.loads(head[3]), head[4])

    def segment(self, space_id: str, entry: SegmentEntry) -> bytes | None:
        with self.db.transaction() as conn:
            row = conn.execute("SELECT data FROM recording_segments WHERE space_id = %s "
                               "AND msn = %s", (space_id, entry.msn)).fetchone()
        return None if row is None else bytes(row[0])

    def has_recording(self, space_id: str) -> bool:
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT journal IS NOT NULL OR EXISTS (SELECT 1 FROM recording_segments s "
                "WHERE s.space_id = r.space_id) FROM recordings r WHERE r.space_id = %s",
                (space_id,)).fetchone()
        return bool(row and row[0])

    def append_checkpoint(self, space_id: str, msn: int, doc: dict[str, str]) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO recording_checkpoints (space_id, msn, doc) "
                         "VALUES (%s, %s, %s) ON CONFLICT (space_id, msn) DO NOTHING",
                         (space_id, msn, _text(doc)))

    def checkpoints(self, space_id: str) -> list[dict[str, str]]:
        with self.db.transaction() as conn:
            rows = conn.execute("SELECT doc FROM recording_checkpoints WHERE space_id = %s "
                                "ORDER BY msn", (space_id,)).fetchall()
        return [json.loads(row[0]) for row in rows]

    def checkpoint(self, space_id: str, msn: int | None) -> dict[str, str] | None:
        with self.db.transaction() as conn:
            if msn is None:
                row = conn.execute("SELECT doc FROM recording_checkpoints WHERE space_id = %s "
                                   "ORDER BY msn DESC LIMIT 1", (space_id,)).fetchone()
            else:
                row = conn.execute("SELECT doc FROM recording_checkpoints WHERE space_id = %s "
                                   "AND msn = %s", (space_id, msn)).fetchone()
        if row is None:
            return None
        doc: dict[str, str] = json.loads(row[0])
        return doc

    def put_withdrawal(self, space_id: str, doc: dict[str, Any]) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE recordings SET withdrawal = %s, updated_at = now() "
                         "WHERE space_id = %s AND withdrawal IS NULL",
                         (_text(doc), space_id))

    def withdrawal(self, space_id: str) -> dict[str, Any] | None:
        with self.db.transaction() as conn:
            row = conn.execute("SELECT withdrawal FROM recordings WHERE space_id = %s",
                               (space_id,)).fetchone()
        if row is None or row[0] is None:
            return None
        doc: dict[str, Any] = json.loads(row[0])
        return doc

    def put_download(self, space_id: str, data: bytes) -> bytes:
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO recording_downloads (space_id, data, sha256) "
                         "VALUES (%s, %s, %s) ON CONFLICT (space_id) DO NOTHING",
                         (space_id, data, hashlib.sha256(data).hexdigest()))
            row = conn.execute("SELECT data FROM recording_downloads WHERE space_id = %s",
                               (space_id,)).fetchone()
        assert row is not None
        return bytes(row[0])

    def download(self, space_id: str) -> bytes | None:
        with self.db.transaction() as conn:
            row = conn.execute("SELECT data FROM recording_downloads WHERE space_id = %s",
                               (space_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def ping(self) -> None:
        self.db.ping()

    def close(self) -> None:
        pass
