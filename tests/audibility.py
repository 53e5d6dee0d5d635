"""Silence detection for end-to-end tests: how long a recording is audible, and its gaps.

A block of 20 ms is audible when its RMS is above -40 dBFS (a test tone is about -3 dBFS,
the program's silence is digital zero, AAC's noise floor far below -60 dBFS).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

BLOCK_S = 0.02
AUDIBLE_DBFS = -40.0


@dataclass(frozen=True)
class Audibility:
    audible_s: float  # blocks heard, in all
    span_s: float  # from the first audible block to the last
    longest_gap_s: float  # the longest silence between the first and the last audible block

    def heard_whole(self, sent_s: float, tolerance_s: float = 0.5) -> bool:
        """All of `sent_s` was heard, with no silence inside it longer than the tolerance."""
        return (self.audible_s >= sent_s - tolerance_s and self.longest_gap_s <= tolerance_s
                and self.span_s <= sent_s + tolerance_s)


def audibility(pcm: npt.NDArray[np.float32], rate: int) -> Audibility:
    block = max(1, round(BLOCK_S * rate))
    n = len(pcm) // block
    if n == 0:
        return Audibility(0.0, 0.0, 0.0)
    blocks = pcm[: n * block].astype(np.float64).reshape(n, block)
    rms = np.sqrt(np.mean(blocks * blocks, axis=1))
    loud = rms > 10 ** (AUDIBLE_DBFS / 20)
    on = np.flatnonzero(loud)
    if len(on) == 0:
        return Audibility(0.0, 0.0, 0.0)
    inside = loud[on[0]: on[-1] + 1]
    longest = run = 0
    for flag in inside:
        run = 0 if flag else run + 1
        longest = max(longest, run)
    to_s = block / rate
    return Audibility(len(on) * to_s, len(inside) * to_s, longest * to_s)
