"""AAC-LC encoder: 48 kHz mono float PCM in, raw AAC access units out (PyAV, in process).

Owns one PyAV codec context. Never packages, never paces; the program clock calls it.
"""

from __future__ import annotations

import av
import numpy as np
import numpy.typing as npt

from townhall.media.cmaf import AudioTrack

FRAME = 1024


class AacEncoder:
    def __init__(self, sample_rate: int = 48000, bitrate: int = 64000) -> None:
        self.sample_rate = sample_rate
        self.bitrate = bitrate
        ctx = av.CodecContext.create("aac", "w")
        assert isinstance(ctx, av.AudioCodecContext)
        ctx.sample_rate = sample_rate
        ctx.layout = "mono"
        ctx.format = "fltp"
        ctx.bit_rate = bitrate
        ctx.open()
        self._ctx = ctx
        self._pts = 0
        if not ctx.extradata:
            raise RuntimeError("the AAC encoder gave no AudioSpecificConfig")
        self.track = AudioTrack(sample_rate=sample_rate, channels=1,
                                audio_specific_config=bytes(ctx.extradata), bitrate=bitrate,
                                samples_per_frame=FRAME)

    def encode(self, pcm: npt.NDArray[np.float32]) -> list[bytes]:
        """Encode exactly one frame of 1024 samples; returns 0..n access units."""
        if pcm.shape != (FRAME,):
            raise ValueError(f"expected {FRAME} mono samples, got shape {pcm.shape}")
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, FRAME), format="fltp", layout="mono")
        frame.sample_rate = self.sample_rate
        frame.pts = self._pts
        self._pts += FRAME
        return [bytes(p) for p in self._ctx.encode(frame)]

    def flush(self) -> list[bytes]:
        """The program ends: the access units the encoder still holds (its look-ahead).
        The encoder takes no more frames afterwards."""
        return [bytes(p) for p in self._ctx.encode(None)]
