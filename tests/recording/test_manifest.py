"""The recording manifest: a hash chain over the segments, sealed with an HMAC."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from townhall.recording.manifest import RecordingManifest, verify_chain

INIT = b"\x00\x00\x00\x18ftypiso6 fake init section"
SECRET = b"s" * 32
T0 = 1_700_000_000.0

segment_bodies = st.lists(st.binary(min_size=1, max_size=64), min_size=1, max_size=6)


def record(bodies: list[bytes], first_msn: int = 0) -> RecordingManifest:
    manifest = RecordingManifest.start("abcdefghjk", INIT)
    for i, body in enumerate(bodies):
        manifest.append(first_msn + i, body, 2.24, T0 + 2.24 * i, discontinuity=i == 2)
    return manifest


def test_entries_describe_each_segment() -> None:
    manifest = record([b"one", b"three"], first_msn=41)
    first, second = manifest.segments
    assert (first.msn, first.file, first.bytes) == (41, "seg-00000041.m4s", 3)
    assert (second.msn, second.file, second.bytes) == (42, "seg-00000042.m4s", 5)
    assert first.sha256 == hashlib.sha256(b"one").hexdigest()
    assert manifest.init_sha256 == hashlib.sha256(INIT).hexdigest()
    assert manifest.head == second.chain != first.chain
    assert manifest.duration == pytest.approx(4.48)


@given(bodies=segment_bodies)
def test_untouched_recording_verifies(bodies: list[bytes]) -> None:
    verify_chain(record(bodies), INIT, bodies)


@given(bodies=segment_bodies, data=st.data())
def test_changing_any_segment_byte_names_that_segment(bodies: list[bytes],
                                                      data: st.DataObject) -> None:
    manifest = record(bodies, first_msn=100)
    i = data.draw(st.integers(0, len(bodies) - 1), label="segment")
    pos = data.draw(st.integers(0, len(bodies[i]) - 1), label="byte")
    flip = data.draw(st.integers(1, 255), label="xor")
    tampered = list(bodies)
    body = bytearray(bodies[i])
    body[pos] ^= flip
    tampered[i] = bytes(body)
    with pytest.raises(ValueError, match=rf"^segment {100 + i} does not match"):
        verify_chain(manifest, INIT, tampered)


@given(bodies=segment_bodies, data=st.data())
def test_truncating_or_extending_a_segment_names_it(bodies: list[bytes],
                                                    data: st.DataObject) -> None:
    manifest = record(bodies)
    i = data.draw(st.integers(0, len(bodies) - 1))
    tampered = list(bodies)
    tampered[i] = data.draw(st.sampled_from([bodies[i][:-1], bodies[i] + b"\x00"]))
    with pytest.raises(ValueError, match=rf"^segment {i} "):
        verify_chain(manifest, INIT, tampered)


def test_swapped_segments_are_detected() -> None:
    bodies = [b"a", b"b", b"c"]
    with pytest.raises(ValueError, match=r"^segment 0 "):
        verify_chain(record(bodies), INIT, [b"b", b"a", b"c"])


def test_changed_init_section_is_detected() -> None:
    with pytest.raises(ValueError, match="init"):
        verify_chain(record([b"a"]), INIT + b"x", [b"a"])


@pytest.mark.parametrize("given_bodies", [[b"a"], [b"a", b"b", b"c"], []])
def test_missing_or_extra_segments_are_detected(given_bodies: list[bytes]) -> None:
    with pytest.raises(ValueError, match="segments given"):
        verify_chain(record([b"a", b"b"]), INIT, given_bodies)


def test_edited_chain_entry_is_detected_even_with_the_right_bytes() -> None:
    manifest = record([b"a", b"b"])
    entry = manifest.segments[1]
    manifest.segments[1] = type(entry)(**{**entry.__dict__, "chain": "0" * 64})
    with pytest.raises(ValueError, match=r"^segment 1 "):
        verify_chain(manifest, INIT, [b"a", b"b"])


@given(bodies=segment_bodies)
def test_chain_can_be_recomputed_from_the_segment_digests(bodies: list[bytes]) -> None:
    """Each link hashes the previous link with the segment's digest."""
    manifest = record(bodies)
    prev = manifest.segments[0].chain
    for entry in manifest.segments[1:]:
        link = hashlib.sha256(bytes.fromhex(prev) + bytes.fromhex(entry.sha256)).hexdigest()
        assert entry.chain == link
        prev = link


def test_chain_follows_the_documented_formula() -> None:
    manifest = record([b"first", b"second"])
    link = hashlib.sha256(INIT).hexdigest()  # chain[-1] = SHA-256(init)
    for entry, body in zip(manifest.segments, [b"first", b"second"], strict=True):
        link = hashlib.sha256(bytes.fromhex(link) + hashlib.sha256(body).digest()).hexdigest()
        assert entry.chain == link


@pytest.mark.parametrize("msn", [4, 3, -1])
def test_segments_must_be_appended_in_order(msn: int) -> None:
    manifest = record([b"a", b"b"], first_msn=3)
    with pytest.raises(ValueError, match="not after"):
        manifest.append(msn, b"c", 2.24, T0, False)
    assert [e.msn for e in manifest.segments] == [3, 4]


def test_gaps_in_msn_are_allowed() -> None:
    manifest = record([b"a"], first_msn=3)
    manifest.append(9, b"b", 1.0, T0, True)
    verify_chain(manifest, INIT, [b"a", b"b"])


def test_sealed_recording_takes_no_more_segments() -> None:
    manifest = record([b"a"])
    manifest.seal(SECRET)
    assert manifest.complete
    with pytest.raises(ValueError, match="sealed"):
        manifest.append(5, b"b", 1.0, T0, False)


# --- signature ---


def test_signature_verifies_with_the_right_secret_only() -> None:
    manifest = record([b"a", b"b"])
    assert not manifest.verify_signature(SECRET)  # not sealed yet
    manifest.seal(SECRET)
    assert manifest.verify_signature(SECRET)
    assert not manifest.verify_signature(b"t" * 32)
    assert not manifest.verify_signature(b"")


@given(bodies=segment_bodies)
def test_signature_survives_a_json_round_trip(bodies: list[bytes]) -> None:
    manifest = record(bodies)
    manifest.seal(SECRET)
    loaded = RecordingManifest.from_dict(json.loads(json.dumps(manifest.to_dict())))
    assert loaded == manifest
    assert loaded.verify_signature(SECRET)
    verify_chain(loaded, INIT, bodies)


@pytest.mark.parametrize(("field", "new"), [
    ("duration", 2.25), ("discontinuity", True), ("file", "seg-evil.m4s"), ("bytes", 999),
    ("program_date_time", T0 + 1), ("msn", 7)])
def test_editing_any_entry_field_breaks_the_signature(field: str, new: object) -> None:
    manifest = record([b"a", b"b"])
    manifest.seal(SECRET)
    doc = manifest.to_dict()
    doc["segments"][1][field] = new
    assert not RecordingManifest.from_dict(doc).verify_signature(SECRET)


@pytest.mark.parametrize(("field", "new"), [
    ("space_id", "zzzzzzzzzz"), ("init_sha256", "0" * 64), ("complete", False)])
def test_editing_the_header_breaks_the_signature(field: str, new: object) -> None:
    manifest = record([b"a"])
    manifest.seal(SECRET)
    doc = manifest.to_dict()
    doc[field] = new
    assert not RecordingManifest.from_dict(doc).verify_signature(SECRET)


def test_dropping_the_last_segment_breaks_the_signature() -> None:
    manifest = record([b"a", b"b"])
    manifest.seal(SECRET)
    doc = manifest.to_dict()
    doc["segments"].pop()
    loaded = RecordingManifest.from_dict(doc)
    assert not loaded.verify_signature(SECRET)
    verify_chain(loaded, INIT, [b"a"])  # the chain alone cannot see a dropped tail
