"""Live checkpoints: signed receipts of the recording's hash chain, published while live.

Sans-IO. After each published segment the origin signs (space, segment number, segments so
far, chain head, time). The chain head commits to every byte published up to that segment
(`manifest.py`), so a listener who kept a checkpoint can later prove that the replay holds
exactly what was live up to that point: nothing cut, inserted or reordered before it. A
checkpoint says nothing about what came after it. Never reads clocks or files: `time` is given.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from townhall.recording import statement
from townhall.recording.manifest import RecordingManifest
from townhall.recording.signing import SigningIdentity

KIND = "checkpoint"


def _iso_ms(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def make(identity: SigningIdentity, manifest: RecordingManifest, now: float) -> dict[str, str]:
    """A signed checkpoint of `manifest` as it stands (at least one segment)."""
    if not manifest.segments:
        raise ValueError("a checkpoint needs a published segment")
    last = manifest.segments[-1]
    return statement.sign(identity, {
        "type": f"townhall.{KIND}", "space_id": manifest.space_id, "msn": last.msn,
        "segments": len(manifest.segments), "chain": last.chain,
        "init_sha256": manifest.init_sha256, "time": _iso_ms(now)})


def open_checkpoint(doc: Any, public: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    body = statement.open_statement(doc, public, KIND)
    for name, kind in (("space_id", str), ("msn", int), ("segments", int), ("chain", str)):
        if not isinstance(body.get(name), kind):
            raise statement.BadStatement(f"the checkpoint has no {name}")
    return body


def check_against(body: dict[str, Any], manifest: RecordingManifest) -> None:
    """ValueError unless the (already chain-checked) recording extends the checkpoint."""
    msn, count = body["msn"], body["segments"]
    if body["space_id"] != manifest.space_id:
        raise ValueError(f"the checkpoint is of space {body['space_id']}, "
                         f"not {manifest.space_id}")
    if count < 1 or count > len(manifest.segments):
        raise ValueError(f"checkpoint at segment {msn}: the recording has only "
                         f"{len(manifest.segments)} segments, the live stream had {count}")
    entry = manifest.segments[count - 1]
    if entry.msn != msn or entry.chain != body["chain"]:
        first = first_divergence(manifest, msn, count)
        raise ValueError(f"checkpoint at segment {msn} ({body.get('time')}): the recording "
                         f"differs from what was live{first}")


def first_divergence(manifest: RecordingManifest, msn: int, count: int) -> str:
    """Words naming where a recording stops matching a checkpoint, when its entries show it."""
    numbers = [e.msn for e in manifest.segments[:count]]
    if msn not in numbers:
        return f" (segment {msn} is not where it was live)"
    at = numbers.index(msn)
    return f" (segment {msn} is at position {at + 1}, was {count})" if at + 1 != count else ""
