"""CMAF (fragmented MP4, ISO/IEC 14496-12 and 23000-19) boxes for one AAC-LC audio track.

Owns the byte layout of the init section and of each fragment (moof+mdat). It is handed
encoded access units and decode times; it never encodes audio, reads clocks or touches files.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

TRACK_ID = 1
MOVIE_TIMESCALE = 1000
# tfhd flags (ISO/IEC 14496-12 §8.8.7): sample duration and flags come from tfhd, base is moof.
TFHD_DEFAULT_DURATION = 0x000008
TFHD_DEFAULT_FLAGS = 0x000020
TFHD_BASE_IS_MOOF = 0x020000
# trun flags (§8.8.8): data offset present, per-sample size present.
TRUN_DATA_OFFSET = 0x000001
TRUN_SAMPLE_SIZE = 0x000200
# sample_depends_on=2: every AAC access unit is a sync sample.
SYNC_SAMPLE_FLAGS = 0x02000000
UNITY_MATRIX = (0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)


def box(fourcc: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I", 8 + len(body)) + fourcc + body


def full_box(fourcc: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return box(fourcc, struct.pack(">I", (version << 24) | flags), *payload)


def _descriptor(tag: int, payload: bytes) -> bytes:
    # ISO/IEC 14496-1 §8.3.3: sizes use 7 bits a byte; four bytes are always accepted.
    n = len(payload)
    size = bytes([0x80 | ((n >> 21) & 0x7F), 0x80 | ((n >> 14) & 0x7F), 0x80 | ((n >> 7) & 0x7F),
                  n & 0x7F])
    return bytes([tag]) + size + payload


@dataclass(frozen=True)
class AudioTrack:
    """What a player needs to know to decode the track."""

    sample_rate: int
    channels: int
    audio_specific_config: bytes
    bitrate: int
    samples_per_frame: int = 1024

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.channels <= 0:
            raise ValueError("sample_rate and channels must be positive")
        if not self.audio_specific_config:
            raise ValueError("audio_specific_config is empty: the encoder gave no extradata")

    @property
    def codecs(self) -> str:
        """RFC 6381 codecs string for the multivariant playlist."""
        object_type = self.audio_specific_config[0] >> 3
        return f"mp4a.40.{object_type}"


def _esds(track: AudioTrack) -> bytes:
    decoder_specific = _descriptor(0x05, track.audio_specific_config)
    decoder_config = _descriptor(
        0x04,
        struct.pack(">BBBHII", 0x40, (0x05 << 2) | 1, 0, 0, track.bitrate, track.bitrate)
        + decoder_specific,
    )
    sl_config = _descriptor(0x06, b"\x02")
    es = _descriptor(0x03, struct.pack(">HB", TRACK_ID, 0) + decoder_config + sl_config)
    return full_box(b"esds", 0, 0, es)


def init_segment(track: AudioTrack) -> bytes:
    """ftyp + moov with an empty sample table and mvex: the EXT-X-MAP of every segment."""
    ftyp = box(b"ftyp", b"iso6", struct.pack(">I", 0), b"iso6", b"cmfc", b"mp41", b"M4A ")
    mvhd = full_box(
        b"mvhd", 0, 0,
        struct.pack(">IIII", 0, 0, MOVIE_TIMESCALE, 0),
        struct.pack(">IH", 0x00010000, 0x0100), bytes(10),
        struct.pack(">9I", *UNITY_MATRIX), bytes(24),
        struct.pack(">I", TRACK_ID + 1),
    )
    tkhd = full_box(
        b"tkhd", 0, 0x000003,
        struct.pack(">IIIII", 0, 0, TRACK_ID, 0, 0), bytes(8),
        struct.pack(">hhhH", 0, 0, 0x0100, 0),
        struct.pack(">9I", *UNITY_MATRIX), struct.pack(">II", 0, 0),
    )
    mdhd = full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, track.sample_rate, 0, 0x55C4, 0))
    hdlr = full_box(b"hdlr", 0, 0, struct.pack(">I", 0), b"soun", bytes(12), b"SoundHandler\x00")
    smhd = full_box(b"smhd", 0, 0, struct.pack(">hH", 0, 0))
    dinf = box(b"dinf", full_box(b"dref", 0, 0, struct.pack(">I", 1), full_box(b"url ", 0, 1)))
    mp4a = box(
        b"mp4a", bytes(6), struct.pack(">H", 1), bytes(8),
        struct.pack(">HHHH", track.channels, 16, 0, 0),
        # 16.16 fixed point; rates above 65535 write 0 (decoders use the AudioSpecificConfig)
        struct.pack(">I", (track.sample_rate if track.sample_rate <= 0xFFFF else 0) << 16),
        _esds(track),
    )
    stbl = box(
        b"stbl",
        full_box(b"stsd", 0, 0, struct.pack(">I", 1), mp4a),
        full_box(b"stts", 0, 0, struct.pack(">I", 0)),
        full_box(b"stsc", 0, 0, struct.pack(">I", 0)),
        full_box(b"stsz", 0, 0, struct.pack(">II", 0, 0)),
        full_box(b"stco", 0, 0, struct.pack(">I", 0)),
    )
    minf = box(b"minf", smhd, dinf, stbl)
    trak = box(b"trak", tkhd, box(b"mdia", mdhd, hdlr, minf))
    trex = full_box(b"trex", 0, 0, struct.pack(">IIIII", TRACK_ID, 1, track.samples_per_frame,
                                                0, SYNC_SAMPLE_FLAGS))
    moov = box(b"moov", mvhd, trak, box(b"mvex", trex))
    return ftyp + moov


def fragment(sequence_number: int, base_decode_time: int, samples: Sequence[bytes],
             sample_duration: int) -> bytes:
    """One CMAF chunk (moof + mdat) carrying `samples`, each `sample_duration` ticks long."""
    if not samples:
        raise ValueError("a fragment needs at least one sample")
    if sequence_number < 1:
        raise ValueError("moof sequence numbers start at 1")
    sizes = b"".join(struct.pack(">I", len(s)) for s in samples)

    def build_moof(data_offset: int) -> bytes:
        mfhd = full_box(b"mfhd", 0, 0, struct.pack(">I", sequence_number))
        tfhd = full_box(b"tfhd", 0,
                        TFHD_BASE_IS_MOOF | TFHD_DEFAULT_DURATION | TFHD_DEFAULT_FLAGS,
                        struct.pack(">III", TRACK_ID, sample_duration, SYNC_SAMPLE_FLAGS))
        tfdt = full_box(b"tfdt", 1, 0, struct.pack(">Q", base_decode_time))
        trun = full_box(b"trun", 0, TRUN_DATA_OFFSET | TRUN_SAMPLE_SIZE,
                        struct.pack(">Ii", len(samples), data_offset), sizes)
        return box(b"moof", mfhd, box(b"traf", tfhd, tfdt, trun))

    moof_size = len(build_moof(0))
    moof = build_moof(moof_size + 8)
    return moof + box(b"mdat", *samples)


def iter_boxes(data: bytes) -> list[tuple[bytes, bytes]]:
    """Top-level (fourcc, payload) pairs; raises ValueError on a truncated or bad box."""
    out: list[tuple[bytes, bytes]] = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < 8:
            raise ValueError(f"truncated box header at offset {pos}")
        size, fourcc = struct.unpack_from(">I4s", data, pos)
        if size < 8 or pos + size > len(data):
            raise ValueError(f"box {fourcc!r} at offset {pos} has bad size {size}")
        out.append((fourcc, data[pos + 8:pos + size]))
        pos += size
    return out
