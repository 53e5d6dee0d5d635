"""A WHIP test client on aiortc: publishes a tone (or a beep on demand), records what it hears.

Runs in the test (or bench) process against a real `townhall serve`; ICE host candidates are
restricted to 127.0.0.1 here as on the server, so no packet leaves loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import time
from dataclasses import dataclass, field

import av
import httpx
import numpy as np
import numpy.typing as npt
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from townhall.live.stage.rtc import restrict_host_addresses, shallow_receive_buffer, to_mono

RATE = 48000
FRAME = 960  # 20 ms
restrict_host_addresses(["127.0.0.1"])


class ToneTrack(MediaStreamTrack):
    """20 ms frames paced in real time: a steady tone, or silence with beeps on demand.

    `stall()` stops producing frames (no RTP at all, as when the network drops); `beep()`
    makes the next frames a loud burst and returns the wall time its first frame was sent.
    Made `held`, it sends nothing until `speak()`: a session that connects (ICE, DTLS) and
    holds on without audio, then speaks when told.
    """

    kind = "audio"

    def __init__(self, freq: float, amplitude: float = 0.3, steady: bool = True,
                 held: bool = False) -> None:
        super().__init__()
        self._go = asyncio.Event()
        if not held:
            self._go.set()
        self.freq = freq
        self.amplitude = amplitude
        self.steady = steady
        self._n = 0
        self._start: float | None = None
        self._stalled = asyncio.Event()
        self._beep_frames = 0
        self.beep_sent_at: float | None = None

    def stall(self) -> None:
        self._stalled.set()

    def speak(self) -> None:
        self._go.set()

    def beep(self, frames: int = 5) -> None:
        self._beep_frames = frames
        self.beep_sent_at = None

    async def recv(self) -> av.AudioFrame:
        await self._go.wait()
        if self._stalled.is_set():
            await asyncio.sleep(3600)  # never returns in a test's lifetime: no more RTP
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._n * FRAME / RATE
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        t = (np.arange(FRAME) + self._n * FRAME) / RATE
        loud = self.steady or self._beep_frames > 0
        if self._beep_frames > 0:
            if self.beep_sent_at is None:
                self.beep_sent_at = time.monotonic()
            self._beep_frames -= 1
        pcm = self.amplitude * np.sin(2 * np.pi * self.freq * t) if loud else np.zeros(FRAME)
        frame = av.AudioFrame.from_ndarray((pcm * 32767).astype(np.int16).reshape(1, -1),
                                           format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._n * FRAME
        frame.time_base = fractions.Fraction(1, RATE)
        self._n += 1
        return frame


@dataclass
class WhipClient:
    base_url: str
    space_id: str
    token: str
    freq: float = 440.0
    steady: bool = True
    receive_prefetch: int | None = None  # aiortc's default (4 packets) unless set
    held: bool = False  # connect, then send no audio until track.speak()
    local_address: str | None = None  # the loopback address the offer is POSTed from
    pc: RTCPeerConnection | None = None
    track: ToneTrack | None = None
    location: str | None = None
    heard: list[tuple[float, npt.NDArray[np.float32]]] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None

    async def post_offer(self, offer_sdp: str | None = None) -> httpx.Response:
        """POST an offer (ours, or the given text); on 201 complete the connection."""
        self.pc = pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.track = ToneTrack(self.freq, steady=self.steady, held=self.held)
        transceiver = pc.addTransceiver(self.track, direction="sendrecv")
        if self.receive_prefetch is not None:
            assert shallow_receive_buffer(transceiver.receiver, self.receive_prefetch)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._reader = asyncio.get_running_loop().create_task(self._read(track))

        await pc.setLocalDescription(await pc.createOffer())
        body = offer_sdp if offer_sdp is not None else pc.localDescription.sdp
        transport = httpx.AsyncHTTPTransport(local_address=self.local_address)
        async with httpx.AsyncClient(timeout=20, transport=transport) as client:
            for _ in range(20):  # a polite client honours 503 + Retry-After (shedding)
                res = await client.post(f"{self.base_url}/whip/{self.space_id}", content=body,
                                        headers={"Content-Type": "application/sdp",
                                                 "Authorization": f"Bearer {self.token}"})
                if res.status_code != 503:
                    break
                await asyncio.sleep(0.2)
        if res.status_code == 201:
            self.location = res.headers["location"]
            await pc.setRemoteDescription(RTCSessionDescription(res.text, "answer"))
        else:
            await self.close()
        return res

    async def publish(self) -> None:
        res = await self.post_offer()
        assert res.status_code == 201, res.text

    async def _read(self, track: MediaStreamTrack) -> None:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            assert isinstance(frame, av.AudioFrame)
            self.heard.append((time.monotonic(), to_mono(frame, resampler)))
            if len(self.heard) > 3000:  # a minute of 20 ms frames
                del self.heard[:1000]

    def recent(self, seconds: float, until: float | None = None) -> npt.NDArray[np.float32]:
        """What this client heard in the last `seconds` (before `until`, monotonic)."""
        end = time.monotonic() if until is None else until
        chunks = [pcm for t, pcm in self.heard if end - seconds <= t <= end]
        return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)

    async def wait_connected(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.pc is not None and self.pc.connectionState != "connected":
            assert time.monotonic() < deadline, f"not connected: {self.pc.connectionState}"
            await asyncio.sleep(0.05)

    async def delete(self) -> httpx.Response:
        assert self.location is not None
        async with httpx.AsyncClient(timeout=10) as client:
            res = await client.delete(f"{self.base_url}{self.location}",
                                      headers={"Authorization": f"Bearer {self.token}"})
        await self.close()
        return res

    async def close(self) -> None:
        """Close the peer connection without telling the WHIP server."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self.pc is not None:
            await self.pc.close()
