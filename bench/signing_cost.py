"""What the verifiable record costs: CPU per live space-hour and bytes per listener-hour.

Measures, on this machine, the work townhall adds for one live space: a signed checkpoint per
segment (ECDSA P-256), the frame digest per segment (parsing + SHA-256), the key seal of the
manifest and the C2PA signing of an hour's replay at 64 kb/s; and the bytes a listener's
page fetches for its receipts (checkpoints.js: one latest.json every 10 s). Bounded: about
1-2 min (the C2PA SDK's hashing of a fragmented hour dominates; a progressive file of the same
frames signs at once). Run: .venv/bin/python bench/signing_cost.py
"""

from __future__ import annotations

import datetime as dt
import json
import struct
import time

from townhall.media.cmaf import AudioTrack, box, fragment, full_box, init_segment
from townhall.recording import checkpoint, credentials
from townhall.recording.frames import fragment_frames, frames_digest, sample_description
from townhall.recording.manifest import RecordingManifest
from townhall.recording.signing import create_identity

TRACK = AudioTrack(48000, 1, bytes.fromhex("1188"), 64000)

SEGMENT_S = 2.24
PARTS, FRAMES = 7, 15  # 0.32 s parts of 15 AAC frames
FRAME_BYTES = 64000 // 8 * 1024 // 48000  # 170 bytes at 64 kb/s
SEGMENTS_PER_HOUR = int(3600 / SEGMENT_S)
CHECKPOINT_EVERY_S = 10  # checkpoints.js


def segment(msn: int) -> bytes:
    out = b""
    for p in range(PARTS):
        samples = [bytes([msn % 251, p, f]) * (FRAME_BYTES // 3) for f in range(FRAMES)]
        out += fragment(msn * PARTS + p + 1, (msn * PARTS + p) * FRAMES * 1024, samples, 1024)
    return out


def progressive(init: bytes, frames: list[bytes]) -> bytes:
    """The same frames as one progressive MP4 (what a re-muxed download is), minimal moov."""
    ftyp = init[:struct.unpack_from(">I", init)[0]]
    stsd = sample_description(init)
    sizes = b"".join(struct.pack(">I", len(f)) for f in frames)

    def head(offset: int) -> bytes:
        stbl = box(b"stbl", box(b"stsd", stsd),
                   full_box(b"stsz", 0, 0, struct.pack(">II", 0, len(frames)), sizes),
                   full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, len(frames), 1)),
                   full_box(b"stco", 0, 0, struct.pack(">II", 1, offset)))
        return ftyp + box(b"moov", box(b"trak", box(b"mdia", box(b"minf", stbl))))

    return head(len(head(0)) + 8) + box(b"mdat", *frames)


def main() -> None:
    who = create_identity("bench", dt.datetime.now(dt.UTC))
    init = init_segment(TRACK)
    segs = [segment(i) for i in range(SEGMENTS_PER_HOUR)]
    manifest = RecordingManifest.start("benchbench", init)

    t0 = time.process_time()
    for i, data in enumerate(segs):
        manifest.append(i, data, SEGMENT_S, 1.7e9 + i * SEGMENT_S, False)
    append_s = time.process_time() - t0
    frames_digest(fragment_frames(segs[0]))
    t0 = time.process_time()
    docs = [checkpoint.make(who, manifest, 1.7e9) for _ in range(SEGMENTS_PER_HOUR)]
    checkpoint_s = time.process_time() - t0
    t0 = time.process_time()
    manifest.seal(b"s" * 32)
    manifest.seal_with_key(who)
    seal_s = time.process_time() - t0
    media = init + b"".join(segs)
    t0 = time.perf_counter()
    signed = credentials.sign(who, media, title="bench", host="bench", aired=None,
                              recording={"key_seal": manifest.key_seal})
    c2pa_s = time.perf_counter() - t0
    flat = progressive(init, [f for seg in segs for f in fragment_frames(seg)])
    t0 = time.perf_counter()
    credentials.sign(who, flat, title="bench", host="bench", aired=None,
                     recording={"key_seal": manifest.key_seal})
    c2pa_progressive_s = time.perf_counter() - t0

    cp_bytes = len(json.dumps(docs[-1]))
    per_listener_hour = cp_bytes * 3600 / CHECKPOINT_EVERY_S
    manifest_bytes = len(json.dumps(manifest.to_dict()))
    audio_per_hour = sum(map(len, segs))
    report = {
        "segments_per_hour": SEGMENTS_PER_HOUR,
        "cpu_s_per_space_hour_checkpoints": round(checkpoint_s, 3),
        "cpu_s_per_space_hour_chain_and_frame_digests": round(append_s, 3),
        "cpu_s_per_space_hour_manifest_seal": round(seal_s, 4),
        "wall_s_c2pa_sign_one_hour_replay_fragmented": round(c2pa_s, 3),
        "wall_s_c2pa_sign_one_hour_replay_progressive": round(c2pa_progressive_s, 3),
        "checkpoint_bytes": cp_bytes,
        "receipt_bytes_per_listener_hour": int(per_listener_hour),
        "receipt_share_of_audio": f"{per_listener_hour / audio_per_hour:.2%}",
        "sealed_manifest_bytes_per_hour": manifest_bytes,
        "c2pa_box_bytes": len(signed) - len(media),
        "audio_bytes_per_hour": audio_per_hour,
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
