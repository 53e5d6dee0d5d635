"""A flagship's listeners through a real nginx edge hear every part while one ticket (no key)
tries three attack families in turn, and the operator still goes live via Icecast during each
(issue 18, item 4). The short form of bench/flagship_families.py (which runs all eight): held
blocking reloads in every spelling, idle and hostile-key sockets on the ingest port, and
standard-player starts from one address; the origin at 1,024 descriptors. Bounded: about 6 s
of attack per family, under 90 s in all with the setup."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.flagship_families import run, table

pytestmark = [pytest.mark.slow, pytest.mark.timing, pytest.mark.adversarial]
FAMILIES = ["reloads", "ingest", "players"]
LISTENERS = 30


def test_flagship_listeners_do_not_stall_and_the_operator_goes_live_under_each_family(
        tmp_path: Path) -> None:
    result = run(FAMILIES, 6.0, LISTENERS, 1024, tmp_path)
    print("\n".join(table(result)))
    stalled = [s for s in result["timeline"] if s["stalls"] or s["errors"]]
    print("windows:", result["windows"], "seconds with stalls or errors:", stalled)
    listeners = result["listeners"]
    assert not listeners["crashes"], listeners["crashes"]
    assert listeners["played"] == LISTENERS
    assert result["origin_alive"]
    for row in result["families"]:
        # a stall that came with the measuring process's own loop lag is the generator's, not
        # the service's: printed above, not failed on
        assert row["stalls"] - row["stalls_generator_lag"] == 0, (row, stalled)
        assert row["errors"] == 0, row
        assert row["operator"].get("live"), row["operator"]
        assert row["sent"] > 100, row  # the family really ran
