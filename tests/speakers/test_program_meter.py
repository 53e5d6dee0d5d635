"""The host's program level: the power sum of the sources the mixer took, muted ones left out."""

from __future__ import annotations

import math

from townhall.media.mixer import SILENCE_DBFS
from townhall.web.program_meter import power_sum_dbfs


def test_two_equal_independent_sources_are_3_db_louder_than_one() -> None:
    assert math.isclose(power_sum_dbfs([-20.0, -20.0]), -20 + 10 * math.log10(2), abs_tol=1e-9)


def test_a_loud_source_dominates_a_quiet_one() -> None:
    assert -12.0 < power_sum_dbfs([-12.0, -40.0]) < -11.9


def test_no_source_or_only_silence_reads_as_silence() -> None:
    assert power_sum_dbfs([]) == SILENCE_DBFS
    assert power_sum_dbfs([SILENCE_DBFS, SILENCE_DBFS]) == SILENCE_DBFS
