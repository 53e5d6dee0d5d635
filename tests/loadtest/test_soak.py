"""The soak bench, short (CI): one space on the embedded default for 35 s with a pushed
speaker and a guest on the speaker page (WebRTC, headless Chromium), listeners joining and
leaving through the edge, reactions and a raised hand.
Descriptors and threads stay flat, the program keeps wall time, no listener sees an error,
and the replay verifies. The two-hour run is `bench/soak.py --duration 7200` (docs/engines.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
BENCH = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


def test_a_short_soak_keeps_descriptors_and_threads_flat_and_its_replay_verifies(
        tmp_path: Path) -> None:
    report_path = tmp_path / "soak.json"
    run = subprocess.run([sys.executable, str(BENCH), "--duration", "35", "--sample", "8",
                          "--listeners", "6", "--stay", "10", "20", "--hands-every", "20",
                          "--report", str(report_path), "--plot", str(tmp_path / "soak.png")],
                         capture_output=True, text=True, timeout=180, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(report_path.read_text())
    samples = report["samples"]
    assert len(samples) >= 4
    assert report["verify_ok"], report["verify_output"]
    assert report["listener_errors"] == 0 and report["joins"] > 6  # they left and came back
    assert report["hands_lowered"] == report["hands"] >= 1
    assert report["webrtc_on_air_samples"] == len(samples) - 1  # every sample but the last
    fds = [s["fds"] for s in samples[1:]]
    threads = [s["threads"] for s in samples[1:]]
    assert max(fds) - min(fds) <= 8, fds  # listeners come and go; descriptors do not pile up
    assert max(threads) - min(threads) <= 4, threads
    assert report["max_drift_s"] < 1.0, [s["drift_s"] for s in samples]
    assert (tmp_path / "soak.png").stat().st_size > 0
