"""One origin and one nginx edge for the conformance suite, with short tickets (8 s) so that
every player crosses renewals it never asked for within its 20 s of listening."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.edge import Edge, origin_behind_edge
from harness.server import Server

TICKETS = ("--set", "seat_ttl_s=16", "--set", "seat_ttl_max_s=16", "--set", "ticket_grace_s=8")
TICKET_S = 8.0
# a deeper start-up buffer for push sources than the 150 ms default: five real-time sources,
# their listeners and the players share two cores here (and other jobs), and a real-time
# sender starved for up to a second must not read as a gap in what it sent
JITTER = ("--set", "jitter_prebuffer_ms=800")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Edge]]:
    root = tmp_path_factory.mktemp("conformance")
    # --log-level info: the sources test waits for each "source left" line (an info line;
    # since i10a the level applies to townhall's own lines, not only uvicorn's)
    with origin_behind_edge(root, *TICKETS, *JITTER, "--set", "part_hold_back_parts=5",
                            "--log-level", "info") as pair:
        yield pair


def tone_file(path: Path, seconds: float, freq: int, codec: str = "libmp3lame",
              fmt: str = "mp3") -> Path:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"sine=frequency={freq}:duration={seconds}", "-c:a", codec, "-f", fmt,
                    str(path)], check=True)
    return path
