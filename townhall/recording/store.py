"""What the recorder needs from wherever a recording is kept: the recording's port.

Defined here, beside the recorder that uses it, so that recording never imports the store
package; the adapters (`store/recording_files.py` on the origin's disk,
`store/postgres_recordings.py` in a cluster) implement it, and `store/base.py` re-exports it.
Every call is blocking and durable when it returns; one that cannot reach its store raises
`townhall.errors.StoreUnavailable`.
"""

from __future__ import annotations

from typing import Any, Protocol

from townhall.recording.manifest import RecordingManifest, SegmentEntry


class RecordingStore(Protocol):
    """Where a space's recording lives: the init section, each closed segment with the
    manifest that chains it, and the journal of the segment still open (its parts as they
    went out). Writes are durable when they return."""

    def put_init(self, space_id: str, init: bytes) -> None: ...

    def close_segment(self, space_id: str, entry: SegmentEntry, data: bytes,
                      manifest: RecordingManifest) -> None:
        """A segment closed: store its bytes and the manifest that lists it, then drop the
        journal (in that order, so a crash between them loses nothing)."""

    def put_manifest(self, space_id: str, manifest: RecordingManifest) -> None:
        """Replace the manifest (sealing it at the end)."""

    def write_journal(self, space_id: str, data: bytes) -> None:
        """Start the open segment's journal with these bytes."""

    def append_journal(self, space_id: str, data: bytes, at: int) -> None:
        """Write `data` at offset `at` of the journal (its length before this part), so that
        retrying an append that did land (the answer was lost) changes nothing."""

    def remove_journal(self, space_id: str) -> None: ...

    def journal(self, space_id: str) -> bytes | None: ...

    def init(self, space_id: str) -> bytes | None: ...

    def manifest(self, space_id: str) -> RecordingManifest | None: ...

    def segment(self, space_id: str, entry: SegmentEntry) -> bytes | None: ...

    def has_recording(self, space_id: str) -> bool:
        """A manifest or a journal exists: the space published something."""

    # the verifiable record (recording/checkpoint.py, recording/withdrawal.py): signed
    # documents kept as they were signed, public after the replay is withdrawn

    def append_checkpoint(self, space_id: str, msn: int, doc: dict[str, str]) -> None:
        """Keep the checkpoint signed after segment `msn` (storing one twice changes nothing,
        so a retried write is safe)."""

    def checkpoints(self, space_id: str) -> list[dict[str, str]]:
        """Every checkpoint kept for this recording, oldest first."""

    def checkpoint(self, space_id: str, msn: int | None) -> dict[str, str] | None:
        """The checkpoint signed after segment `msn`, or the newest one when `msn` is None
        (what listeners poll: one row, not the whole list)."""

    def put_withdrawal(self, space_id: str, doc: dict[str, Any]) -> None:
        """The host withdrew the replay: keep the (signed) withdrawal, once."""

    def withdrawal(self, space_id: str) -> dict[str, Any] | None: ...

    def put_download(self, space_id: str, data: bytes) -> bytes:
        """Keep the signed downloadable replay unless one is kept already; returns the one
        kept. Signing is not deterministic (time, ids, ECDSA), so every origin must serve
        the same first-kept bytes: a Range request resumed on another origin then fits."""

    def download(self, space_id: str) -> bytes | None: ...

    def ping(self) -> None: ...

    def close(self) -> None: ...
