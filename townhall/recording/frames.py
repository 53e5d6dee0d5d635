"""The audio frames inside CMAF fragments: what a re-muxed file must still carry, byte for byte.

Sans-IO. A segment's bytes include its boxes (moof: sequence numbers, decode times, offsets),
which a re-muxed download (one progressive MP4) rewrites; its AAC access units it never may.
So the manifest records, per segment, the number of frames and the SHA-256 of their payloads
concatenated in decode order, and any container carrying the same frames can be checked
against the signed recording. Reads frames from CMAF fragments (moof/trun + mdat) and from a
progressive MP4's sample table (stsz, stsc, stco/co64), and the AudioSpecificConfig that says
how they decode. Never decodes audio; every malformed input is a ValueError.
"""

from __future__ import annotations

import hashlib
import struct

from townhall.media.cmaf import iter_boxes


def _child(payload: bytes, fourcc: bytes) -> bytes | None:
    for kind, body in iter_boxes(payload):
        if kind == fourcc:
            return body
    return None


def fragment_frames(data: bytes) -> list[bytes]:
    """The access units of every moof+mdat in `data`, in order (ValueError if malformed)."""
    frames: list[bytes] = []
    sizes: list[int] | None = None
    for kind, body in iter_boxes(data):
        if kind == b"moof":
            traf = _child(body, b"traf")
            trun = _child(traf, b"trun") if traf is not None else None
            if trun is None or len(trun) < 8:
                raise ValueError("a moof without traf/trun")
            flags = int.from_bytes(trun[1:4], "big")
            count = struct.unpack_from(">I", trun, 4)[0]
            pos = 8 + (4 if flags & 0x1 else 0) + (4 if flags & 0x4 else 0)
            per = sum(4 for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit)
            if not flags & 0x200 or pos + per * count > len(trun):
                raise ValueError("trun without per-sample sizes")
            off = pos + (4 if flags & 0x100 else 0)
            sizes = [struct.unpack_from(">I", trun, off + i * per)[0] for i in range(count)]
        elif kind == b"mdat":
            if sizes is None:
                raise ValueError("an mdat without its moof")
            at = 0
            for size in sizes:
                if at + size > len(body):
                    raise ValueError("mdat shorter than its samples")
                frames.append(body[at:at + size])
                at += size
            sizes = None
    return frames


def frames_digest(frames: list[bytes]) -> str:
    return hashlib.sha256(b"".join(frames)).hexdigest()


def walk(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[bytes, int, int]]:
    """(fourcc, payload start, payload end) of the boxes in data[start:end], with 64-bit
    sizes (size 1) and a last box running to the end (size 0); ValueError if malformed."""
    end = len(data) if end is None else end
    out: list[tuple[bytes, int, int]] = []
    pos = start
    while pos < end:
        if end - pos < 8:
            raise ValueError(f"truncated box header at offset {pos}")
        size, fourcc = struct.unpack_from(">I4s", data, pos)
        head = 8
        if size == 1:
            if end - pos < 16:
                raise ValueError(f"truncated 64-bit box header at offset {pos}")
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            head = 16
        elif size == 0:
            size = end - pos
        if size < head or pos + size > end:
            raise ValueError(f"box {fourcc!r} at offset {pos} has bad size {size}")
        out.append((fourcc, pos + head, pos + size))
        pos += size
    return out


def _find(data: bytes, start: int, end: int, *path: bytes) -> tuple[int, int]:
    for fourcc in path:
        for kind, s, e in walk(data, start, end):
            if kind == fourcc:
                start, end = s, e
                break
        else:
            raise ValueError(f"no {fourcc.decode(errors='replace')} box")
    return start, end


def progressive_frames(data: bytes) -> tuple[list[bytes], bytes]:
    """(access units in order, the sample description box) of a progressive MP4's first
    track, from its sample table (stsz, stsc, stco/co64). ValueError if it has none."""
    try:
        return _progressive_frames(data)
    except struct.error as exc:
        raise ValueError(f"a sample table box is truncated: {exc}") from None


def _progressive_frames(data: bytes) -> tuple[list[bytes], bytes]:
    moov = _find(data, 0, len(data), b"moov")
    stbl = _find(data, *moov, b"trak", b"mdia", b"minf", b"stbl")
    boxes = {kind: (s, e) for kind, s, e in walk(data, *stbl)}
    if b"stsz" not in boxes or b"stsc" not in boxes or not (b"stco" in boxes or b"co64" in boxes):
        raise ValueError("the track has no complete sample table")
    s, _ = boxes[b"stsz"]
    fixed, count = struct.unpack_from(">II", data, s + 4)
    sizes = [fixed] * count if fixed else list(struct.unpack_from(f">{count}I", data, s + 12))
    s, _ = boxes[b"stsc"]
    (entries,) = struct.unpack_from(">I", data, s + 4)
    runs = [struct.unpack_from(">III", data, s + 8 + 12 * i)[:2] for i in range(entries)]
    if b"co64" in boxes:
        s, _ = boxes[b"co64"]
        (n,) = struct.unpack_from(">I", data, s + 4)
        offsets = list(struct.unpack_from(f">{n}Q", data, s + 8))
    else:
        s, _ = boxes[b"stco"]
        (n,) = struct.unpack_from(">I", data, s + 4)
        offsets = list(struct.unpack_from(f">{n}I", data, s + 8))
    frames: list[bytes] = []
    for chunk, offset in enumerate(offsets, start=1):
        per = next((k for first, k in reversed(runs) if first <= chunk), 0)
        for _ in range(per):
            if len(frames) >= len(sizes):
                raise ValueError("stsc lists more samples than stsz")
            size = sizes[len(frames)]
            if offset + size > len(data):
                raise ValueError("a sample lies past the end of the file")
            frames.append(data[offset:offset + size])
            offset += size
    if len(frames) != len(sizes):
        raise ValueError(f"the sample table places {len(frames)} of {len(sizes)} samples")
    s, e = boxes.get(b"stsd", (0, 0))
    return frames, data[s:e]


def sample_description(init: bytes) -> bytes:
    """The stsd box payload of a CMAF init section (codec, rate, channels, AAC config)."""
    s, e = _find(init, 0, len(init), b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd")
    return init[s:e]


def _descriptor(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, payload start, payload end) of the ISO/IEC 14496-1 descriptor at `pos`."""
    tag, size, pos = data[pos], 0, pos + 1
    for _ in range(4):
        byte = data[pos]
        pos += 1
        size = (size << 7) | (byte & 0x7F)
        if not byte & 0x80:
            break
    return tag, pos, pos + size


def audio_config(stsd: bytes) -> tuple[int, int, bytes]:
    """(channels, sample rate, AudioSpecificConfig) of an stsd's mp4a entry: what decides how
    the frames sound. Muxers write the rest (esds bitrates, buffer sizes) as they like."""
    try:
        (kind, s, e), = walk(stsd, 8)[:1]
        if kind != b"mp4a":
            raise ValueError(f"the sample entry is {kind!r}, not mp4a")
        channels = struct.unpack_from(">H", stsd, s + 16)[0]
        rate = struct.unpack_from(">I", stsd, s + 24)[0] >> 16
        esds = next((bs, be) for k, bs, be in walk(stsd, s + 28, e) if k == b"esds")
        tag, ps, _ = _descriptor(stsd, esds[0] + 4)  # ES_Descriptor
        if tag != 0x03:
            raise ValueError("esds without an ES descriptor")
        flags = stsd[ps + 2]
        pos = ps + 3 + (2 if flags & 0x80 else 0)
        if flags & 0x40:
            pos += 1 + stsd[pos]
        pos += 2 if flags & 0x20 else 0
        tag, ds, _ = _descriptor(stsd, pos)  # DecoderConfigDescriptor
        if tag != 0x04:
            raise ValueError("esds without a decoder config")
        tag, cs, ce = _descriptor(stsd, ds + 13)  # DecoderSpecificInfo
        if tag != 0x05:
            raise ValueError("esds without an AudioSpecificConfig")
        return channels, rate, stsd[cs:ce]
    except (IndexError, StopIteration, struct.error) as exc:
        raise ValueError(f"unreadable sample description: {exc!r}") from None
