"""A withdrawn replay: the host unpublished it, and the record says so, signed.

Sans-IO. Withdrawing removes the replay from the listener routes (410), never the signed
manifest or the checkpoints: the record keeps saying that a recording existed, how long it
was, the chain head it ended at, and when it was withdrawn. The statement is signed like the
rest (`statement.py`), so nobody can later claim a recording never aired.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from townhall.recording import statement
from townhall.recording.manifest import RecordingManifest
from townhall.recording.signing import SigningIdentity


def make(manifest: RecordingManifest, now: float,
         identity: SigningIdentity | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "townhall.withdrawal", "space_id": manifest.space_id,
        "withdrawn_at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")
        .replace("+00:00", "Z"),
        "duration_s": round(manifest.duration, 3), "segments": len(manifest.segments),
        "chain": manifest.head}
    doc: dict[str, Any] = dict(body)
    if identity is not None:
        doc["statement"] = statement.sign(identity, body)
    return doc


def detail(doc: dict[str, Any]) -> str:
    return (f"the host withdrew this replay at {doc['withdrawn_at']}; it was "
            f"{doc['duration_s']:.1f} s long ({doc['segments']} segments). The signed manifest "
            f"and checkpoints stay public at /record/{doc['space_id']}")
