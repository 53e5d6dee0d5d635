"""The Grafana dashboard in the repo queries only metrics that townhall exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import generate_latest

import townhall.ops.metrics as metrics_module

ROOT = Path(__file__).resolve().parents[2]


def test_every_dashboard_query_names_an_exported_metric() -> None:
    dash = json.loads((ROOT / "deploy" / "grafana-townhall.json").read_text())
    queried = {name for panel in dash["panels"] for target in panel["targets"]
               for name in re.findall(r"townhall_[a-z_]+", target["expr"])}
    source = Path(metrics_module.__file__).read_text()
    exported = set(re.findall(r'"(townhall_[a-z_]+)"', source))
    missing = {q for q in queried if q not in exported and q.removesuffix("_total") not in exported}
    assert queried and not missing, missing
    assert b"townhall_lease_held" in generate_latest(metrics_module.REGISTRY)
