"""CMAF boxes: every field is checked by parsing the bytes back, and PyAV decodes the result."""

from __future__ import annotations

import functools
import io
import itertools
import struct

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from townhall.live.program.encoder import AacEncoder
from townhall.media.cmaf import (
    SYNC_SAMPLE_FLAGS,
    TFHD_BASE_IS_MOOF,
    TRACK_ID,
    AudioTrack,
    fragment,
    init_segment,
    iter_boxes,
)

RATE = 48000
FRAME = 1024
ASC_AAC_LC_48K_MONO = b"\x11\x88"


def child(data: bytes, *path: bytes) -> bytes:
    """Payload of the single box at `path`, descending through container boxes."""
    for fourcc in path:
        found = [payload for name, payload in iter_boxes(data) if name == fourcc]
        assert len(found) == 1, f"expected one {fourcc!r} box, found {len(found)}"
        data = found[0]
    return data


def full_box_fields(payload: bytes) -> tuple[int, int, bytes]:
    """(version, flags, body) of a full box payload."""
    word = struct.unpack_from(">I", payload)[0]
    return word >> 24, word & 0xFFFFFF, payload[4:]


def descriptor(data: bytes, pos: int = 0) -> tuple[int, bytes, int]:
    """(tag, payload, end) of an ISO/IEC 14496-1 descriptor starting at `pos`."""
    tag = data[pos]
    pos += 1
    size = 0
    while True:
        b = data[pos]
        pos += 1
        size = (size << 7) | (b & 0x7F)
        if not b & 0x80:
            break
    return tag, data[pos:pos + size], pos + size


def sample_entry(init: bytes) -> bytes:
    stsd = child(init, b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd")
    _, _, body = full_box_fields(stsd)
    assert struct.unpack_from(">I", body)[0] == 1  # one sample description
    return child(body[4:], b"mp4a")


def track(sample_rate: int = RATE, channels: int = 1, asc: bytes = ASC_AAC_LC_48K_MONO,
          samples_per_frame: int = FRAME) -> AudioTrack:
    return AudioTrack(sample_rate=sample_rate, channels=channels, audio_specific_config=asc,
                      bitrate=64000, samples_per_frame=samples_per_frame)


@functools.cache
def aac_tone(frames: int = 48, freq: float = 440.0) -> tuple[AudioTrack, tuple[bytes, ...]]:
    """Real AAC-LC access units of a sine tone (the encoder holds back its priming frame)."""
    enc = AacEncoder(RATE, 64000)
    t = np.arange(frames * FRAME) / RATE
    pcm = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    units: list[bytes] = []
    for i in range(frames):
        units += enc.encode(pcm[i * FRAME:(i + 1) * FRAME])
    return enc.track, tuple(units)


def decode(blob: bytes) -> tuple[np.ndarray, int, int]:
    """(mono samples, sample rate, channels) decoded by PyAV from an fMP4 blob."""
    with av.open(io.BytesIO(blob), "r") as container:
        stream = container.streams.audio[0]
        blocks = [f.to_ndarray().reshape(-1) for f in container.decode(stream)]
        return np.concatenate(blocks), stream.sample_rate, stream.channels


# --- AudioTrack ---


@pytest.mark.parametrize(("rate", "channels", "asc"), [
    (0, 1, ASC_AAC_LC_48K_MONO), (-48000, 1, ASC_AAC_LC_48K_MONO), (RATE, 0, ASC_AAC_LC_48K_MONO),
    (RATE, 1, b""),
])
def test_audio_track_rejects_impossible_parameters(rate: int, channels: int, asc: bytes) -> None:
    with pytest.raises(ValueError):
        track(sample_rate=rate, channels=channels, asc=asc)


@pytest.mark.parametrize(("asc", "codecs"), [
    (b"\x11\x88", "mp4a.40.2"),  # AAC-LC
    (b"\x2b\x92\x08\x00", "mp4a.40.5"),  # HE-AAC (SBR)
    (b"\x0a\x10", "mp4a.40.1"),  # AAC Main
])
def test_codecs_string_names_the_audio_object_type(asc: bytes, codecs: str) -> None:
    assert track(asc=asc).codecs == codecs


# --- init segment ---


def test_init_segment_is_ftyp_then_moov_with_cmaf_brand() -> None:
    init = init_segment(track())
    assert [name for name, _ in iter_boxes(init)] == [b"ftyp", b"moov"]
    ftyp = child(init, b"ftyp")
    assert ftyp[:4] == b"iso6"
    brands = {ftyp[i:i + 4] for i in range(8, len(ftyp), 4)}
    assert b"cmfc" in brands


@given(rate=st.integers(8000, 65535), channels=st.integers(1, 8),
       spf=st.sampled_from([960, 1024, 2048]))
def test_init_segment_declares_timescale_channels_and_frame_duration(rate: int, channels: int,
                                                                      spf: int) -> None:
    init = init_segment(track(sample_rate=rate, channels=channels, samples_per_frame=spf))
    _, _, mdhd = full_box_fields(child(init, b"moov", b"trak", b"mdia", b"mdhd"))
    assert struct.unpack_from(">I", mdhd, 8)[0] == rate  # creation, modification, timescale
    _, _, tkhd = full_box_fields(child(init, b"moov", b"trak", b"tkhd"))
    assert struct.unpack_from(">I", tkhd, 8)[0] == TRACK_ID
    mp4a = sample_entry(init)
    assert struct.unpack_from(">H", mp4a, 16)[0] == channels
    assert struct.unpack_from(">I", mp4a, 24)[0] == rate << 16
    _, _, trex = full_box_fields(child(init, b"moov", b"mvex", b"trex"))
    track_id, desc_index, duration, size, flags = struct.unpack(">5I", trex)
    assert (track_id, desc_index, duration, size, flags) == (TRACK_ID, 1, spf, 0, SYNC_SAMPLE_FLAGS)


@given(asc=st.binary(min_size=2, max_size=200))
def test_init_segment_carries_the_audio_specific_config_in_esds(asc: bytes) -> None:
    mp4a = sample_entry(init_segment(track(asc=asc)))
    _, _, esds = full_box_fields(child(mp4a[28:], b"esds"))
    tag, es, end = descriptor(esds)
    assert (tag, end) == (0x03, len(esds))
    assert struct.unpack_from(">H", es)[0] == TRACK_ID
    tag, dec_config, _ = descriptor(es, 3)
    assert tag == 0x04
    assert dec_config[0] == 0x40  # MPEG-4 audio
    assert dec_config[1] >> 2 == 0x05  # audio stream
    tag, specific, _ = descriptor(dec_config, 13)
    assert (tag, specific) == (0x05, asc)


def test_init_segment_has_an_empty_sample_table() -> None:
    stbl = child(init_segment(track()), b"moov", b"trak", b"mdia", b"minf", b"stbl")
    for name in (b"stts", b"stsc", b"stco"):
        assert struct.unpack_from(">I", full_box_fields(child(stbl, name))[2])[0] == 0
    assert struct.unpack(">II", full_box_fields(child(stbl, b"stsz"))[2]) == (0, 0)


def test_init_segment_for_a_96khz_track_decodes() -> None:
    enc = AacEncoder(96000, 64000)
    units: list[bytes] = []
    for _ in range(6):
        units += enc.encode(np.zeros(FRAME, dtype=np.float32))
    blob = init_segment(enc.track) + fragment(1, 0, units, FRAME)
    pcm, rate, _ = decode(blob)
    assert (len(pcm), rate) == (len(units) * FRAME, 96000)


# --- fragments ---


@given(seq=st.integers(1, 2**32 - 1), base=st.integers(0, 2**64 - 1),
       samples=st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=40),
       duration=st.integers(1, 4096))
def test_fragment_fields_parse_back(seq: int, base: int, samples: list[bytes],
                                    duration: int) -> None:
    frag = fragment(seq, base, samples, duration)
    assert [name for name, _ in iter_boxes(frag)] == [b"moof", b"mdat"]
    _, _, mfhd = full_box_fields(child(frag, b"moof", b"mfhd"))
    assert struct.unpack(">I", mfhd)[0] == seq
    _, tfhd_flags, tfhd = full_box_fields(child(frag, b"moof", b"traf", b"tfhd"))
    assert tfhd_flags & TFHD_BASE_IS_MOOF
    assert struct.unpack(">III", tfhd) == (TRACK_ID, duration, SYNC_SAMPLE_FLAGS)
    version, _, tfdt = full_box_fields(child(frag, b"moof", b"traf", b"tfdt"))
    assert version == 1
    assert struct.unpack(">Q", tfdt)[0] == base
    _, _, trun = full_box_fields(child(frag, b"moof", b"traf", b"trun"))
    count, offset = struct.unpack_from(">Ii", trun)
    sizes = list(struct.unpack_from(f">{count}I", trun, 8))
    assert sizes == [len(s) for s in samples]
    # the data offset (from the start of moof) lands on the first byte of mdat's payload
    assert frag[offset:] == child(frag, b"mdat") == b"".join(samples)
    pos, recovered = offset, []
    for size in sizes:
        recovered.append(frag[pos:pos + size])
        pos += size
    assert recovered == samples


@pytest.mark.parametrize(("seq", "samples"), [(1, []), (0, [b"\x01"]), (-1, [b"\x01"])])
def test_fragment_refuses_no_samples_or_a_sequence_below_one(seq: int,
                                                             samples: list[bytes]) -> None:
    with pytest.raises(ValueError):
        fragment(seq, 0, samples, FRAME)


# --- iter_boxes ---


@given(samples=st.lists(st.binary(min_size=1, max_size=50), min_size=1, max_size=5),
       data=st.data())
def test_iter_boxes_rejects_input_cut_inside_a_box(samples: list[bytes],
                                                   data: st.DataObject) -> None:
    frag = fragment(1, 0, samples, FRAME)
    moof_len = 8 + len(child(frag, b"moof"))
    cut = data.draw(st.integers(1, len(frag) - 1).filter(lambda n: n != moof_len))
    with pytest.raises(ValueError):
        iter_boxes(frag[:cut])


def test_iter_boxes_splits_at_box_boundaries() -> None:
    frag = fragment(1, 0, [b"abc"], FRAME)
    assert iter_boxes(b"") == []
    moof_len = 8 + len(child(frag, b"moof"))
    assert [name for name, _ in iter_boxes(frag[:moof_len])] == [b"moof"]
    assert iter_boxes(frag[moof_len:]) == [(b"mdat", b"abc")]


@pytest.mark.parametrize("size", [0, 1, 7])
def test_iter_boxes_rejects_a_size_smaller_than_the_header(size: int) -> None:
    with pytest.raises(ValueError, match="bad size"):
        iter_boxes(struct.pack(">I", size) + b"free" + bytes(16))


# --- PyAV round trip ---


@settings(max_examples=8, deadline=None)
@given(cuts=st.lists(st.integers(1, 46), max_size=6, unique=True))
def test_init_and_fragments_decode_to_every_sample(cuts: list[int]) -> None:
    track_, units = aac_tone()
    bounds = [0, *sorted(c for c in cuts if c < len(units)), len(units)]
    blob = init_segment(track_)
    for seq, (a, b) in enumerate(itertools.pairwise(bounds), start=1):
        blob += fragment(seq, a * FRAME, units[a:b], FRAME)
    pcm, rate, channels = decode(blob)
    assert (rate, channels) == (RATE, 1)
    assert len(pcm) == len(units) * FRAME


def test_decoded_fragments_keep_the_tone_and_the_decode_times() -> None:
    track_, units = aac_tone()
    blob = init_segment(track_) + b"".join(
        fragment(i // 8 + 1, i * FRAME, units[i:i + 8], FRAME) for i in range(0, len(units), 8))
    with av.open(io.BytesIO(blob), "r") as container:
        stream = container.streams.audio[0]
        packets = [p for p in container.demux(stream) if p.size]
    assert [p.pts for p in packets] == [i * FRAME for i in range(len(units))]
    assert all(p.duration == FRAME for p in packets)
    pcm, _, _ = decode(blob)
    steady = pcm[4 * FRAME:]
    spectrum = np.abs(np.fft.rfft(steady * np.hanning(len(steady))))
    peak_hz = np.fft.rfftfreq(len(steady), 1 / RATE)[int(np.argmax(spectrum))]
    assert abs(peak_hz - 440) < 5
