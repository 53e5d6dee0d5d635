"""The edge's seats.log is bounded by size (`townhall tickets rotate`): a real nginx edge keeps
logging starts while its log is rotated, no seat start is lost, the shared-ticket check
finds the same shared seat in the history, and what a tight bound drops is counted in the
edge's metrics file. `townhall serve` does the same by itself for the edges it is told of
(`seat_log_edges`), counted on its own /metrics."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import httpx
import pytest

from harness.edge import origin_behind_edge
from harness.server import Server, push_tone, stop_process
from townhall import cli
from townhall.live.seat_log import METRICS_NAME, rotate

pytestmark = pytest.mark.slow


def starts(url: str, address: str, times: int) -> bool:
    with httpx.Client(timeout=10, transport=httpx.HTTPTransport(local_address=address)) as c:
        return all(c.get(url).status_code == 200 for _ in range(times))


def records(prefix: Path) -> set[tuple[str, str]]:
    """(seat, address) of every line in the live log and its history."""
    out = set()
    for name in ("seats.log", "seats.log.1"):
        path = prefix / name
        for line in path.read_text().splitlines() if path.exists() else []:
            fields = line.split()
            out.add((fields[2], fields[3]))
    return out


def test_the_seat_log_rotates_by_size_without_losing_a_start(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    with origin_behind_edge(tmp_path, "--attack-mode", "off",
                            "--set", "join_burst_per_address=500",
                            "--set", "join_burst_per_network=5000") as (origin, edge):
        doc = origin.create_space()
        push = push_tone(doc["ingest_url"], 40, 1000)
        try:
            origin.wait_on_air(doc["id"], 20)
            seats = [origin.join(doc["id"]) for _ in range(60)]
            urls = [s["playlist_url"].replace(origin.base_url, edge.url) for s in seats]
            for url in urls[:30]:
                assert starts(url, "127.0.0.1", 5)
            assert starts(urls[0], "127.0.0.2", 1) and starts(urls[0], "127.0.0.3", 1)
            time.sleep(2.5)  # the edge flushes its log buffer every 2 s
            log = edge.prefix / "seats.log"
            before = log.stat().st_size
            assert before > 4096, before
            # starts keep coming while the log is rotated
            late: list[tuple[str, str]] = []

            def more() -> None:
                for seat, url in zip(seats[30:], urls[30:], strict=True):
                    if starts(url, "127.0.0.4", 1):
                        late.append((seat["seat"], "127.0.0.4"))

            writer = threading.Thread(target=more)
            writer.start()
            done = rotate(edge.prefix, 4096, 600)
            writer.join(30)
            assert done.rotated and done.dropped == 0 and done.history_bytes <= 4096
            assert done.merged >= 4 * 30  # 5 starts of one address: one record
            time.sleep(2.5)
            held = records(edge.prefix)
            wanted = {(s["seat"], "127.0.0.1") for s in seats[:30]} | set(late)
            assert len(late) == 30 and wanted <= held, wanted - held
            assert cli.main(["tickets", "shared", "--log", str(log),
                             "--max-addresses", "2"]) == 0
            found = capsys.readouterr().out
            assert seats[0]["seat"] in found and '"addresses": 3' in found, found
            # a bound too tight for the window's records: the oldest go, counted
            tight = rotate(edge.prefix, 512, 600, force=True)
            assert tight.dropped > 0 and (edge.prefix / "seats.log.1").stat().st_size <= 512
            metrics = (edge.prefix / METRICS_NAME).read_text()
            assert "townhall_seat_log_rotations_total 2" in metrics
            assert f'townhall_seat_log_records_total{{fate="dropped"}} {tight.dropped}' in metrics
            print(f"seats.log {before} B -> history {done.history_bytes} B; "
                  f"merged {done.merged}, dropped at 512 B {tight.dropped}")
        finally:
            stop_process(push)


def rotations(origin: Server, edge: str) -> tuple[float, float]:
    """The origin's own /metrics: rotations of `edge`'s seats.log, and the bytes rotated."""
    text = httpx.get(f"{origin.base_url}/metrics", headers=origin.hosting_headers(),
                     timeout=10).text
    out = []
    for name in ("townhall_seat_log_rotations_total", "townhall_seat_log_rotated_bytes_total"):
        m = re.search(rf'^{name}{{edge="{re.escape(edge)}"}} (\S+)$', text, re.M)
        out.append(float(m.group(1)) if m else 0.0)
    return out[0], out[1]


def test_serve_rotates_the_seat_log_by_itself_without_losing_a_start(tmp_path: Path) -> None:
    prefix = tmp_path / "edge"  # where origin_behind_edge puts its edge
    with origin_behind_edge(tmp_path, "--attack-mode", "off",
                            "--set", "join_burst_per_address=500",
                            "--set", "join_burst_per_network=5000",
                            "--set", f"seat_log_edges={prefix}",
                            "--set", "seat_log_max_bytes=4096",
                            "--set", "seat_log_check_s=0.5") as (origin, edge):
        assert edge.prefix == prefix
        doc = origin.create_space()
        push = push_tone(doc["ingest_url"], 60, 1000)
        try:
            origin.wait_on_air(doc["id"], 20)
            seats = [origin.join(doc["id"]) for _ in range(60)]
            urls = [s["playlist_url"].replace(origin.base_url, edge.url) for s in seats]
            late: list[tuple[str, str]] = []

            def more() -> None:  # starts keep coming while the origin rotates the log
                for seat, url in zip(seats[30:], urls[30:], strict=True):
                    if starts(url, "127.0.0.4", 1):
                        late.append((seat["seat"], "127.0.0.4"))
                    time.sleep(0.1)

            for url in urls[:30]:  # 150 lines, about 10 KB: past the bound at the next flush
                assert starts(url, "127.0.0.1", 5)
            writer = threading.Thread(target=more)
            writer.start()
            deadline = time.monotonic() + 20
            while rotations(origin, str(prefix))[0] < 1:
                assert time.monotonic() < deadline, "the origin did not rotate seats.log"
                time.sleep(0.25)
            writer.join(30)
            time.sleep(2.5)  # the edge flushes its log buffer every 2 s
            held = records(prefix)
            wanted = {(s["seat"], "127.0.0.1") for s in seats[:30]} | set(late)
            assert len(late) == 30 and wanted <= held, wanted - held
            assert (prefix / "seats.log.1").stat().st_size <= 4096
            count, rotated = rotations(origin, str(prefix))
            assert count >= 1 and rotated > 4096, (count, rotated)
            print(f"serve rotated seats.log {count:.0f} time(s), {rotated:.0f} B in all")
        finally:
            stop_process(push)
