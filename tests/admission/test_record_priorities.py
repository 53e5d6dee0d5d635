"""The verifiable record's routes in the shedding order: the record is a status document,
a clip (signed per request) is background work, replay media stays media."""

from __future__ import annotations

from townhall.admission.pressure import Priority, classify


def test_record_and_key_are_status_clips_are_other_work() -> None:
    assert classify("GET", "/record/abc/checkpoints/latest.json") is Priority.STATUS
    assert classify("GET", "/.well-known/townhall-signing.json") is Priority.STATUS
    assert classify("GET", "/replay/abc/clip/1-4.m4a") is Priority.OTHER
    assert classify("GET", "/replay/abc/clip") is Priority.OTHER
    assert classify("GET", "/replay/abc/seg/3.m4s") is Priority.MEDIA
    assert classify("GET", "/replay/abc.m4a") is Priority.MEDIA
    assert classify("DELETE", "/api/spaces/abc/replay") is Priority.WRITES
