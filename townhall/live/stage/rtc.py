"""aiortc adapters for the speakers' sessions: the outgoing mix-minus track, decoded frames
to the mixer's format, and the two aiortc/aioice internals we adjust (guarded, tested).

Edge-side helpers with no space or stage in them; `live.stage.speakers` owns the sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import time

import aioice.ice
import av
import numpy as np
import numpy.typing as npt
from aiortc import MediaStreamTrack
from aiortc.jitterbuffer import JitterBuffer as JitterBufferRtp
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpreceiver import RTCRtpReceiver

from townhall.media.mixer import JitterBuffer

Pcm = npt.NDArray[np.float32]
RATE = 48000
OUT_FRAME = 960  # 20 ms, one Opus frame


def shallow_receive_buffer(receiver: RTCRtpReceiver, prefetch: int) -> bool:
    """Make aiortc hand audio packets to the decoder after `prefetch` packets, not 4.

    aiortc holds 4 Opus packets (80 ms) before decoding and has no setting for it. Holding
    them adds delay without absorbing jitter (frames still leave as packets arrive); the
    mixer's speaker buffer does that. False if this aiortc no longer has the attribute.
    """
    attr = "_RTCRtpReceiver__jitter_buffer"
    if not isinstance(getattr(receiver, attr, None), JitterBufferRtp):
        return False
    setattr(receiver, attr, JitterBufferRtp(capacity=16, prefetch=prefetch))
    return True


def restrict_host_addresses(addresses: list[str]) -> None:
    """Offer only these addresses as ICE host candidates (process-wide).

    aiortc has no interface filter, and aioice leaves out loopback, which is the one interface
    a test or a single-host deployment wants; so the lookup aioice calls is replaced.
    """
    if addresses:
        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: list(addresses)


class MixMinusTrack(MediaStreamTrack):
    """Outgoing audio for one speaker: 20 ms s16 frames of the program minus them.

    Paced by the program clock that fills it; when nothing comes (the program is idle) it
    sends silence every 20 ms so the RTP stream, and the browser's stats, keep going.
    """

    kind = "audio"

    def __init__(self, max_samples: int) -> None:
        super().__init__()
        self.buffer = JitterBuffer(OUT_FRAME, max(max_samples, 2 * OUT_FRAME))
        self._ready = asyncio.Event()
        self._pts = 0
        self._fed_at = 0.0
        self.frames_sent = 0

    def push(self, pcm: Pcm) -> None:
        self.buffer.write(pcm)
        self._fed_at = time.monotonic()
        if self.buffer.buffered >= OUT_FRAME:
            self._ready.set()

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        # while fed, wait for the clock (it runs 1024-sample ticks); idle, send silence
        fed = time.monotonic() - self._fed_at < 0.2
        wait = 0.06 if fed else 0.02
        if self.buffer.buffered < OUT_FRAME:
            self._ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), wait)
        if self.readyState != "live":
            raise MediaStreamError
        pcm = self.buffer.read(OUT_FRAME)
        # packed stereo, both channels the same: aiortc's Opus encoder takes stereo as is,
        # whereas it would upmix mono at -3 dB
        samples = np.repeat((np.clip(pcm, -1.0, 1.0) * 32767).astype(np.int16), 2)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16",
                                           layout="stereo")
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, RATE)
        self._pts += OUT_FRAME
        self.frames_sent += 1
        return frame


def to_mono(frame: av.AudioFrame, resampler: av.AudioResampler) -> Pcm:
    """48 kHz mono float32 from whatever aiortc decoded (Opus: s16 stereo 48 kHz)."""
    channels = len(frame.layout.channels)
    if frame.format.name == "s16" and frame.sample_rate == RATE and channels <= 2:
        data = frame.to_ndarray().reshape(-1, channels).astype(np.float32)  # packed s16
        mono: Pcm = (data.mean(axis=1) / 32768.0).astype(np.float32)
        return mono
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)
