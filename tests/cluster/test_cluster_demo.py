"""`townhall cluster-demo` starts PostgreSQL, Redis, three origins and an edge; the origins
are healthy, the edge answers and takes a new space; Ctrl-C stops every process it started
and removes its files."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from harness.server import Server

pytestmark = pytest.mark.slow


# how long the demo may take to start its three origins, Redis and nginx before the test
# gives up (a wait, not a figure: on a loaded shared machine one origin takes up to 20 s)
START_S = 90


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purposes (its parent has not reaped it yet)
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def _stop_its_postgres(text: str) -> None:
    """The demo's PostgreSQL (pg_ctl starts it in a session of its own), after a failure."""
    root = re.search(r"^logs under (\S+)", text, re.M)
    pid_file = Path(root.group(1)) / "postgres" / "data" / "postmaster.pid" if root else None
    if pid_file is not None and pid_file.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGQUIT)


def test_cluster_demo_answers_through_its_edge_and_stops_everything_on_ctrl_c() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "townhall.cli", "cluster-demo"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # its children in a group of their own
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")),
                              daemon=True)  # type: ignore[union-attr]
    reader.start()
    pids: list[int] = []
    try:
        deadline = time.monotonic() + START_S
        while not any(line.startswith("Ctrl-C stops everything") for line in lines):
            assert proc.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.1)
        text = "".join(lines)
        edge = re.search(r"^edge:\s+(\S+)/", text, re.M)
        root = re.search(r"^logs under (\S+)", text, re.M)
        assert edge is not None and root is not None, text
        origins = re.findall(r"^origin \w:\s+(\S+)\s+pid (\d+)", text, re.M)
        pids = [int(pid) for _url, pid in origins]
        assert len(pids) == 3
        for url, _pid in origins:  # each origin is healthy, the edge answers in front
            assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
        assert "kill -9 $(cat " in text  # the failover command, ready to paste
        assert httpx.get(f"{edge.group(1)}/edge-status", timeout=10).status_code == 200
        through_edge = Server(edge.group(1), 0, Path(root.group(1)) / "b", proc,  # type: ignore[arg-type]
                              Path(root.group(1)) / "b" / "server.log")
        sid = through_edge.create_space(title="demo test")["id"]
        assert httpx.get(f"{edge.group(1)}/api/spaces/{sid}", timeout=10).status_code == 200
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(25) == 0
        assert not any(_alive(pid) for pid in pids)
        assert not Path(root.group(1)).exists()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(25)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        with contextlib.suppress(ProcessLookupError):  # never leave anything behind
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _stop_its_postgres("".join(lines))
        reader.join(5)
        if proc.stdout is not None:
            proc.stdout.close()
