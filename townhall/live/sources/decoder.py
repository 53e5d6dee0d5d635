"""Decodes a pushed byte stream (ADTS, MP3, Ogg/Opus, WAV, ...) to 48 kHz mono float PCM.

Runs PyAV's blocking demuxer in its own thread, reading from a bounded in-memory pipe that
the ingest connection fills. Hands PCM back through a callback; never touches the mixer or
the event loop itself (the caller decides how to cross threads).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

import av
import numpy as np
import numpy.typing as npt

PcmCallback = Callable[[npt.NDArray[np.float32]], None]
DoneCallback = Callable[[str | None], None]


class _Pipe:
    """A blocking read side for PyAV over chunks pushed from another thread."""

    def __init__(self, max_bytes: int) -> None:
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._max = max_bytes
        self._closed = False
        self._cond = threading.Condition()

    def write(self, data: bytes, timeout: float) -> bool:
        """Queue bytes; False if the reader stayed full for `timeout` seconds."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._size < self._max or self._closed, timeout):
                return False
            if self._closed:
                return True
            self._chunks.append(data)
            self._size += len(data)
            self._cond.notify_all()
            return True

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def read(self, n: int) -> bytes:
        with self._cond:
            self._cond.wait_for(lambda: self._chunks or self._closed)
            if not self._chunks:
                return b""
            out = bytearray()
            while self._chunks and len(out) < n:
                chunk = self._chunks.popleft()
                take = chunk[: n - len(out)]
                out += take
                if len(take) < len(chunk):
                    self._chunks.appendleft(chunk[len(take):])
            self._size -= len(out)
            self._cond.notify_all()
            return bytes(out)


class StreamDecoder:
    def __init__(self, on_pcm: PcmCallback, on_done: DoneCallback, *, sample_rate: int,
                 probe_bytes: int, max_queue_bytes: int, name: str = "ingest") -> None:
        self._pipe = _Pipe(max_queue_bytes)
        self._on_pcm = on_pcm
        self._on_done = on_done
        self._rate = sample_rate
        self._probe = probe_bytes
        self.format_name: str | None = None
        self.codec_name: str | None = None
        self.samples = 0
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name=f"decode-{name}", daemon=True)
        self._thread.start()

    def feed(self, data: bytes, timeout: float = 10.0) -> bool:
        """Blocking; call from a worker thread. False means the decoder is stuck or gone."""
        return self._pipe.write(data, timeout)

    def close(self) -> None:
        self._pipe.close()

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            self._decode()
        except av.FFmpegError as exc:
            self.error = f"could not decode the pushed audio: {exc}"
        except Exception as exc:
            self.error = f"ingest decoder failed: {exc}"
        finally:
            self._pipe.close()
            self._on_done(self.error)

    def _decode(self) -> None:
        container = av.open(self._pipe, mode="r", options={
            "probesize": str(self._probe), "analyzeduration": "200000"})
        try:
            if not container.streams.audio:
                self.error = "the pushed stream has no audio track"
                return
            stream = container.streams.audio[0]
            self.format_name = container.format.name
            self.codec_name = stream.codec_context.name
            resampler = av.AudioResampler(format="flt", layout="mono", rate=self._rate)
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.InvalidDataError:
                    continue  # one corrupt packet: skip it, keep the source on air
                for frame in frames:
                    self._emit(resampler.resample(frame))
            self._emit(resampler.resample(None))
        finally:
            container.close()

    def _emit(self, frames: list[av.AudioFrame]) -> None:
        for out in frames:
            pcm = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
            self.samples += len(pcm)
            self._on_pcm(pcm)
