"""`townhall verify` on a signed recording: untouched passes; each kind of tampering fails and
names the first segment that differs; a wrong key fails; live checkpoints verify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.recording.signed import (
    Recording,
    identity,
    make_recording,
    make_segment,
    remux_progressive,
)
from townhall.cli import main
from townhall.commands.verify import BAD_INPUT, BAD_SIGNATURE, OK, TAMPERED
from townhall.recording import credentials, statement
from townhall.recording.frames import fragment_frames, sample_description
from townhall.recording.manifest import RecordingManifest
from townhall.recording.signing import fingerprint
from townhall.recording.verify import (
    Tampered,
    check_file,
    check_frames,
    check_range,
    open_manifest,
)


def verify(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = main(["verify", *argv])
    out = capsys.readouterr().out.strip()
    assert "\n" not in out, "one line"
    return status, out


def run_on(tmp_path: Path, capsys: pytest.CaptureFixture[str], rec: Recording,
           replay: bytes, *extra: str) -> tuple[int, str]:
    media, manifest = rec.write(tmp_path, replay)
    return verify(capsys, str(media), "--manifest", str(manifest), *extra)


@pytest.fixture(scope="module")
def rec() -> Recording:
    return make_recording()


def test_untouched_replay_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   rec: Recording) -> None:
    status, out = run_on(tmp_path, capsys, rec, rec.replay,
                         "--key", identity().fingerprint)
    assert status == OK, out
    assert out.startswith("verified: replay of space abcdefghjk, segments 0-5 (6,")


def test_a_flipped_byte_names_its_segment(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          rec: Recording) -> None:
    data = bytearray(rec.replay)
    at = len(rec.init) + sum(map(len, rec.segments[:3])) + 200  # inside segment 3's audio
    data[at] ^= 0x01
    status, out = run_on(tmp_path, capsys, rec, bytes(data))
    assert status == TAMPERED
    assert "segment 3 " in out and "differs" in out, out


def test_a_cut_segment_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                rec: Recording) -> None:
    cut = rec.init + b"".join(s for i, s in enumerate(rec.segments) if i != 2)
    status, out = run_on(tmp_path, capsys, rec, cut)
    assert (status, "segment 2 " in out) == (TAMPERED, True), out


def test_a_cut_at_the_end_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   rec: Recording) -> None:
    status, out = run_on(tmp_path, capsys, rec, rec.init + b"".join(rec.segments[:-1]))
    assert (status, "segment 5 " in out, "missing" in out) == (TAMPERED, True, True), out


def test_swapped_segments_name_the_first(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         rec: Recording) -> None:
    segs = list(rec.segments)
    segs[1], segs[4] = segs[4], segs[1]
    status, out = run_on(tmp_path, capsys, rec, rec.init + b"".join(segs))
    assert (status, "segment 1 " in out) == (TAMPERED, True), out


def test_an_inserted_segment_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      rec: Recording) -> None:
    segs = list(rec.segments)
    segs.insert(4, make_segment(99))
    status, out = run_on(tmp_path, capsys, rec, rec.init + b"".join(segs))
    assert (status, "segment 4 " in out) == (TAMPERED, True), out


def test_bytes_after_the_last_segment_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           rec: Recording) -> None:
    status, out = run_on(tmp_path, capsys, rec, rec.replay + make_segment(6))
    assert (status, "follow segment 5" in out) == (TAMPERED, True), out


def test_a_wrong_key_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                           rec: Recording) -> None:
    other = identity("someone else")
    status, out = run_on(tmp_path, capsys, rec, rec.replay, "--key", other.fingerprint)
    assert status == BAD_SIGNATURE and "not by the expected" in out, out
    pem = tmp_path / "other.pem"
    pem.write_bytes(other.public.public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))
    status, out = run_on(tmp_path, capsys, rec, rec.replay, "--key", str(pem))
    assert status == BAD_SIGNATURE and "signed by key" in out, out


def test_a_manifest_re_signed_by_another_key_fails(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    forged = make_recording(who=identity("forger"))
    status, out = run_on(tmp_path, capsys, forged, forged.replay,
                         "--key", identity().fingerprint)
    assert status == BAD_SIGNATURE, out


def test_an_edited_manifest_payload_fails(rec: Recording) -> None:
    doc = rec.manifest_doc()
    seal = dict(doc["key_seal"])  # type: ignore[arg-type]
    seal["payload"] = seal["payload"].replace('"duration":0.256', '"duration":0.257', 1)
    with pytest.raises(statement.BadStatement, match="does not verify"):
        open_manifest({**doc, "key_seal": seal}, identity().public)


def test_checkpoints_taken_live_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       rec: Recording) -> None:
    paths = []
    for i in (1, 5):
        p = tmp_path / f"cp{i}.json"
        p.write_text(json.dumps(rec.checkpoints[i]))
        paths += ["--checkpoint", str(p)]
    status, out = run_on(tmp_path, capsys, rec, rec.replay, *paths)
    assert status == OK and "2 checkpoint(s)" in out, out


def test_a_checkpoint_catches_a_doctored_re_signed_recording(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], rec: Recording) -> None:
    # the origin's own key re-signs a recording with segment 2 replaced: the chain and the
    # signature hold, but a listener's checkpoint from later in the live stream does not
    doctored = make_recording()
    doctored.segments[2] = make_segment(42)
    m = RecordingManifest.start(rec.manifest.space_id, rec.init)
    for i, s in enumerate(doctored.segments):
        m.append(i, s, 0.256, 0.0, False)
    m.seal(b"s" * 32)
    m.seal_with_key(identity())
    doctored.manifest = m
    cp = tmp_path / "cp.json"
    cp.write_text(json.dumps(rec.checkpoints[3]))
    status, out = run_on(tmp_path, capsys, doctored, doctored.replay, "--checkpoint", str(cp))
    assert status == TAMPERED and "checkpoint at segment 3" in out, out
    cp.write_text(json.dumps(rec.checkpoints[1]))  # before the edit: still holds
    status, out = run_on(tmp_path, capsys, doctored, doctored.replay, "--checkpoint", str(cp))
    assert status == OK, out


def test_a_forged_checkpoint_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   rec: Recording) -> None:
    cp = dict(rec.checkpoints[2])
    cp["payload"] = cp["payload"].replace('"msn":2', '"msn":3')
    p = tmp_path / "cp.json"
    p.write_text(json.dumps(cp))
    status, out = run_on(tmp_path, capsys, rec, rec.replay, "--checkpoint", str(p))
    assert status == BAD_SIGNATURE and "checkpoint" in out, out


def test_missing_inputs_are_one_line_errors(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    status, out = verify(capsys, str(tmp_path / "nope.m4a"), "--manifest", "x.json")
    assert status == BAD_INPUT and out.startswith("verify: cannot read"), out
    (tmp_path / "a.m4a").write_bytes(b"junk")
    status, out = verify(capsys, str(tmp_path / "a.m4a"))
    assert status == BAD_INPUT and "--manifest" in out, out


def test_a_clip_range_verifies_and_a_wrong_one_fails(rec: Recording) -> None:
    manifest = open_manifest(rec.manifest_doc(), identity().public)
    clip = rec.init + b"".join(rec.segments[2:5])
    assert check_range(manifest, clip, 2, 4).segments == 3
    with pytest.raises(Tampered) as err:
        check_range(manifest, clip, 1, 3)
    assert err.value.msn == 1


def test_frames_verify_a_re_muxed_file(rec: Recording) -> None:
    manifest = open_manifest(rec.manifest_doc(), identity().public)
    frames = [f for seg in rec.segments for f in fragment_frames(seg)]
    assert check_frames(manifest, frames).segments == 6
    frames[13] = frames[13][:-1] + b"\x00"  # segment 1 (12 frames a segment)
    with pytest.raises(Tampered) as err:
        check_frames(manifest, frames)
    assert err.value.msn == 1


def test_the_fingerprint_is_of_the_public_key(rec: Recording) -> None:
    seal = rec.manifest.key_seal
    assert seal is not None and seal["fingerprint"] == fingerprint(identity().public)


def progressive(rec: Recording, frames: list[bytes] | None = None,
                stsd: bytes | None = None) -> bytes:
    if frames is None:
        frames = [f for seg in rec.segments for f in fragment_frames(seg)]
    return remux_progressive(rec.init, frames, stsd)


def test_a_re_muxed_progressive_replay_verifies(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], rec: Recording) -> None:
    status, out = run_on(tmp_path, capsys, rec, progressive(rec))
    assert status == OK and "segments 0-5 (6," in out, out


def test_a_re_muxed_replay_with_a_changed_frame_names_its_segment(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], rec: Recording) -> None:
    frames = [f for seg in rec.segments for f in fragment_frames(seg)]
    frames[40] = bytes(len(frames[40]))  # segment 3 (12 frames a segment)
    status, out = run_on(tmp_path, capsys, rec, progressive(rec, frames))
    assert status == TAMPERED and "segment 3 " in out and "audio frames" in out, out
    del frames[12:24]  # segment 1 cut
    status, out = run_on(tmp_path, capsys, rec, progressive(rec, frames))
    assert status == TAMPERED and "segment 1 " in out, out


def test_a_re_muxed_replay_with_another_codec_setup_fails(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], rec: Recording) -> None:
    stsd = bytearray(sample_description(rec.init))
    at = bytes(stsd).rindex(bytes.fromhex("1188"))
    stsd[at:at + 2] = bytes.fromhex("1190")  # AAC config: another sample rate index
    status, out = run_on(tmp_path, capsys, rec, progressive(rec, stsd=bytes(stsd)))
    assert status == TAMPERED and "codec setup" in out, out


@settings(max_examples=300, deadline=None)
@given(junk=st.binary(max_size=300), cut=st.integers(min_value=0, max_value=4000))
def test_any_bytes_are_verified_or_refused_never_crash(junk: bytes, cut: int) -> None:
    rec = make_recording(3)
    manifest = open_manifest(rec.manifest_doc(), identity().public)
    whole = (rec.replay, progressive(rec))
    for data in (junk, whole[0][:cut] + junk, whole[1][:cut] + junk):
        if data in whole:
            assert check_file(manifest, data).segments == 3
            continue
        with pytest.raises(Tampered):
            check_file(manifest, data)


def test_a_saved_playlist_and_its_segments_verify(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], rec: Recording) -> None:
    (tmp_path / "init.mp4").write_bytes(rec.init)
    lines = ["#EXTM3U", '#EXT-X-MAP:URI="init.mp4"']
    for i, seg in enumerate(rec.segments):
        (tmp_path / f"seg{i}.m4s").write_bytes(seg)
        lines += ["#EXTINF:0.256,", f"seg{i}.m4s"]
    playlist = tmp_path / "media.m3u8"
    playlist.write_text("\n".join(lines) + "\n")
    _, manifest = rec.write(tmp_path)
    status, out = verify(capsys, str(playlist), "--manifest", str(manifest))
    assert status == OK, out
    (tmp_path / "seg4.m4s").write_bytes(make_segment(77))
    status, out = verify(capsys, str(playlist), "--manifest", str(manifest))
    assert status == TAMPERED and "segment 4 " in out, out
    (tmp_path / "seg4.m4s").unlink()
    status, out = verify(capsys, str(playlist), "--manifest", str(manifest))
    assert status == BAD_INPUT and "seg4.m4s" in out, out


def test_a_clip_with_its_credentials_verifies_offline_and_names_a_changed_segment(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], rec: Recording) -> None:
    media = rec.init + b"".join(rec.segments[2:5])
    clip = credentials.sign(identity(), media, title="clip", host="Host", aired=None,
                            recording={"space_id": rec.manifest.space_id, "first_msn": 2,
                                       "last_msn": 4, "key_seal": rec.manifest.key_seal})
    assert credentials.read(clip).valid
    path = tmp_path / "clip.m4a"
    path.write_bytes(clip)
    status, out = verify(capsys, str(path), "--key", identity().fingerprint)
    assert status == OK and "clip of space" in out and "segments 2-4 (3," in out, out
    assert "C2PA valid (signer untrusted)" in out
    bad = bytearray(clip)
    bad[len(clip) - len(rec.segments[4]) - 30] ^= 0x01  # the end of segment 3's audio
    path.write_bytes(bytes(bad))
    status, out = verify(capsys, str(path))
    assert status == TAMPERED and "segment 3 " in out, out


def test_a_recording_too_long_to_embed_its_seal_is_signed_and_verifies_against_its_manifest(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], rec: Recording) -> None:
    # a two-hour space's seal is about 1.3 MB: past what a C2PA manifest definition may hold
    big = dict(rec.manifest.key_seal or {})
    recording = {"space_id": rec.manifest.space_id, "first_msn": None, "last_msn": None,
                 "manifest_url": "http://127.0.0.1:9/record/x/manifest.json",
                 "key_seal": {**big, "padding": "p" * (credentials.MANIFEST_JSON_MAX + 1)}}
    signed = credentials.sign(identity(), rec.replay, title="long", host="Host", aired=None,
                              recording=recording)
    read = credentials.read(signed)
    assert read.valid and read.recording is not None
    assert read.recording["key_seal"] is None
    assert read.recording["key_seal_signature"] == big["signature"]
    media, manifest = rec.write(tmp_path, signed)
    status, out = verify(capsys, str(media), "--manifest", str(manifest),
                         "--key", identity().fingerprint)
    assert status == OK and "C2PA valid" in out, out
    other = make_recording(count=6)  # the same segments, sealed again: another signature
    (tmp_path / "other.json").write_text(json.dumps(other.manifest_doc()))
    status, out = verify(capsys, str(media), "--manifest", str(tmp_path / "other.json"))
    assert status == TAMPERED and "not the one this file was signed with" in out, out
