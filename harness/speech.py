"""Reproducible speech for the captions tests and bench/captions.py: espeak-ng (Debian),
decoded to mono float32 PCM with PyAV. Also the fixed sentences the word error rate is
measured on, and the rate itself."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Welcome to the town hall, everyone can listen live.",
    "Please raise your hand if you want to speak.",
    "The meeting will start at seven in the evening.",
    "We are going to talk about the new library.",
    "Thank you all for joining us today.",
    "The weather was cold and windy this morning.",
    "Our next guest is a teacher from the city school.",
    "She said the bridge will open next summer.",
    "Let us take one more question before we finish.",
]


class NoEspeak(RuntimeError):
    """espeak-ng is not installed (scripts/setup --test installs it)."""


def need_espeak() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise NoEspeak("espeak-ng is not installed (scripts/setup --test installs it)")
    return path


def speak_wav(text: str, path: Path, words_per_minute: int = 160) -> Path:
    subprocess.run([need_espeak(), "-s", str(words_per_minute), "-w", str(path), text],
                   check=True, capture_output=True, timeout=30)
    return path


def speak(text: str, rate: int = 16_000) -> npt.NDArray[np.float32]:
    """`text` spoken by espeak-ng, mono float32 at `rate` Hz."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = speak_wav(text, Path(tmp) / "speech.wav")
        with av.open(str(wav)) as container:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            chunks = [f.to_ndarray().reshape(-1) for frame in container.decode(audio=0)
                      for f in resampler.resample(frame)]
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.float32)


ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
        "eighteen", "nineteen"]
TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def spelled(number: int) -> list[str]:
    """0 to 999,999 as spoken words ("7" is "seven", "1905" is "one thousand nine hundred
    five"); larger numbers digit by digit."""
    if number < 20:
        return [ONES[number]]
    if number < 100:
        return [TENS[number // 10]] + (spelled(number % 10) if number % 10 else [])
    if number < 1_000_000:
        size, name = (100, "hundred") if number < 1000 else (1000, "thousand")
        rest = number % size
        return spelled(number // size) + [name] + (spelled(rest) if rest else [])
    return [ONES[int(d)] for d in str(number)]


def words(text: str) -> list[str]:
    """The words of `text` as the word error rate compares them, the same for a reference
    and a recogniser's output: lower case, no punctuation (an apostrophe stays: "she's"),
    hyphens and letter/digit joins split ("7am" is "seven am"), numbers spelled out (Whisper
    writes "7" where a reference says "seven")."""
    text = re.sub(r"(?<=[0-9]),(?=[0-9]{3})", "", text.lower().replace("-", " "))
    tokens = re.findall(r"[a-z']+|[0-9]+", text)
    out: list[str] = []
    for token in tokens:
        if token.isdigit():
            out += spelled(int(token))
        elif token.strip("'"):
            out.append(token.strip("'"))
    return out


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, words in the reference): Levenshtein on
    `words` (the same normalising for both)."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[len(hyp)], len(ref)
