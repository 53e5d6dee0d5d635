"""`townhall simulate` sizes with measured capacities read from a file (bench/capacities.py's),
never with numbers typed into the model: change the file, and the plan changes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from townhall.simulate.model import DEFAULT_CAPACITIES, Capacities, Deployment, steady_state

MEASURED = ("edge_requests_per_s_per_core", "origin_requests_per_s", "shield_requests_per_s",
            "origin_joins_per_s")


def simulate(capacities: Path, out: Path) -> dict[str, Any]:
    subprocess.run([sys.executable, "-m", "townhall.cli", "simulate", "--listeners", "1e6",
                    "--mode", "ll", "--capacities", str(capacities), "--json", str(out)],
                   check=True, capture_output=True, timeout=60)
    table: dict[str, Any] = json.loads(out.read_text())["steady_state"][0]
    return table


def test_the_shipped_capacities_say_where_and_when_they_were_measured() -> None:
    doc = json.loads(DEFAULT_CAPACITIES.read_text())
    assert all(doc[name] > 0 for name in MEASURED)
    measured = doc["measured"]
    assert measured["by"] == "bench/capacities.py" and measured["at"]
    assert measured["machine"]["cpus"] >= 1 and measured["machine"]["cpu_model"]
    caps = Capacities.measured()
    assert [getattr(caps, name) for name in MEASURED] == [doc[name] for name in MEASURED]
    assert Deployment(1000).capacities == caps  # the model's default is the file


def test_the_plan_follows_the_capacities_file(tmp_path: Path) -> None:
    doc = json.loads(DEFAULT_CAPACITIES.read_text())
    (tmp_path / "as_measured.json").write_text(json.dumps(doc))
    slower = {**doc, "edge_requests_per_s_per_core": doc["edge_requests_per_s_per_core"] / 4,
              "origin_requests_per_s": doc["origin_requests_per_s"] / 4}
    (tmp_path / "slower.json").write_text(json.dumps(slower))
    a = simulate(tmp_path / "as_measured.json", tmp_path / "a.json")
    b = simulate(tmp_path / "slower.json", tmp_path / "b.json")
    assert b["edges"] > a["edges"] and b["origins"] >= a["origins"], (a, b)
    # the same through the model's own reader
    quarter = Capacities.measured(tmp_path / "slower.json")
    assert quarter.edge_requests_per_s_per_core == doc["edge_requests_per_s_per_core"] / 4
    assert steady_state(Deployment(1_000_000, capacities=quarter))["edges"] == b["edges"]
