"""Defenses on vs off under the same flood: do listeners keep hearing, does the page answer?

Two deployments on this machine, one after the other, each hit by the same attack (the load
tester's join, details, random-URL, ticketless, forged-ticket and slowloris patterns from
many 127.x.y.z addresses, in its own process) while the same audience listens and the same
legitimate pages poll the details document:

  on   nginx edge (townhall edge-config) -> origin with tickets, rate limits, shedding and
       automatic attack mode (the defaults)
  off  the origin alone with --no-tickets, attack mode off, limits and shedding disabled

Prints both side by side with ratios; saves bench/out/flood_defenses.{json,png}.
Everything runs on loopback and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.edge import start_edge
from harness.rawhttp import poll_details
from harness.server import Server, free_port, start_server, stop_server
from townhall.loadtest.config import LoadConfig
from townhall.loadtest.runner import run_load

OUT = Path(__file__).resolve().parent / "out"
PATTERNS = "join,details,random,ticketless,forged,slow"
HOLD_BACK = ["--set", "part_hold_back_parts=5"]
DEFENSES_OFF = ["--no-tickets", "--attack-mode", "off",
                "--set", "shed_lag_scale=100000", "--set", "max_in_flight=1000000000",
                "--set", "join_burst_per_address=1000000", "--set", "join_rate_per_address=1e6",
                "--set", "join_burst_per_network=1000000", "--set", "join_rate_per_network=1e6",
                "--set", "api_burst_per_address=1000000", "--set", "api_rate_per_address=1e6",
                "--set", "api_burst_per_network=1000000", "--set", "api_rate_per_network=1e6"]


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100


def run_case(name: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    defended = name == "on"
    edge_port = free_port()
    # the same player buffer in both arms (5 parts, what the README advises behind nginx
    # edges): a difference in stalls is the defenses', not the hold-back's
    extra = ([*HOLD_BACK, "--public-url", f"http://127.0.0.1:{edge_port}"] if defended
             else [*HOLD_BACK, *DEFENSES_OFF])
    origin: Server = start_server(work / name / "data", *extra)
    edge = start_edge(origin, work / name / "edge", edge_port) if defended else None
    target = edge.url if edge else origin.base_url
    port = int(target.rsplit(":", 1)[1])
    src = work / "talk.m4a"
    doc = origin.create_space(title=f"flood {name}", host="bench")
    push = subprocess.Popen([sys.executable, "-m", "townhall.cli", "broadcast", str(src),
                             "--ingest-url", doc["ingest_url"], "--loop"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    attackers = None
    try:
        origin.wait_on_air(doc["id"], timeout=20)
        report_path = work / f"attack-{name}.json"
        attackers = subprocess.Popen(
            [sys.executable, "-m", "townhall.cli", "loadtest", "--target", target, "--space",
             doc["id"], "--listeners", "0", "--duration", str(args.seconds + 3), "--attack",
             PATTERNS, "--attack-rate", str(args.rate), "--slow-connections", "300",
             "--seed", "7", "--quiet", "--report", str(report_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2.0)
        cpu0 = cpu_s(origin.process.pid)
        config = LoadConfig(target=target, space=doc["id"], listeners=args.listeners,
                            duration_s=args.seconds, join_window_s=2.0, seed=8)

        async def both() -> tuple[Any, list[int]]:
            return await asyncio.gather(
                run_load(config), poll_details(port, doc["id"], args.seconds - 2, 40))

        report, statuses = asyncio.run(both())
        origin_cpu = (cpu_s(origin.process.pid) - cpu0) / args.seconds
        attackers.wait(args.seconds + 30)
        attack = json.loads(report_path.read_text())["attack"]
        alive = origin.process.poll() is None
        return {
            "case": name, "listeners": args.listeners, "played": report.played,
            "failed_to_join": report.failed, "stalls": report.stalls,
            "stalled_s": round(report.stalled_s, 2),
            "listeners_with_stalls": report.listeners_with_stalls,
            "stall_rate": round(report.listeners_with_stalls / max(1, args.listeners), 4),
            "ttfa_p50_s": report.ttfa_s.get("p50"), "ttfa_p99_s": report.ttfa_s.get("p99"),
            "details_ok": sum(1 for s in statuses if s == 200),
            "details_total": len(statuses),
            "details_success": round(sum(1 for s in statuses if s == 200)
                                     / max(1, len(statuses)), 4),
            "attack_sent": attack["sent"], "attack_outcomes": attack["by_outcome"],
            "origin_cpu_cores": round(origin_cpu, 2), "origin_alive": alive,
            "listener_errors": report.errors,
        }
    finally:
        push.kill()
        push.wait(10)
        if attackers is not None and attackers.poll() is None:
            attackers.kill()
            attackers.wait(10)
        if edge is not None:
            edge.stop()
        stop_server(origin)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listeners", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--rate", type=float, default=4000.0, help="attack requests/s offered")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="townhall-flood-") as tmp:
        work = Path(tmp)
        subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i",
                        "sine=frequency=440:duration=20", "-c:a", "aac",
                        str(work / "talk.m4a")], check=True)
        results = [run_case("on", args, work), run_case("off", args, work)]
    on, off = results
    rows = [("listeners who played", "played"), ("listeners with a stall", "listeners_with_stalls"),
            ("stalls", "stalls"), ("stalled seconds", "stalled_s"),
            ("time to first audio p50 (s)", "ttfa_p50_s"),
            ("time to first audio p99 (s)", "ttfa_p99_s"),
            ("details answered (share)", "details_success"),
            ("attack requests sent", "attack_sent"), ("origin CPU (cores)", "origin_cpu_cores"),
            ("origin alive", "origin_alive")]
    print(f"flood: {args.rate:g} req/s offered ({PATTERNS}) for {args.seconds:g} s, "
          f"{args.listeners} listeners, 40 pages polling details")
    print(f"{'':32}{'defenses on':>14}{'defenses off':>14}")
    for label, key in rows:
        print(f"{label:32}{on[key]!s:>14}{off[key]!s:>14}")
    on_s, off_s = on["details_success"], off["details_success"]
    print(f"details answered: {on_s:.1%} with defenses, {off_s:.1%} without; listeners with a "
          f"stall: {on['listeners_with_stalls']} vs {off['listeners_with_stalls']} of "
          f"{args.listeners}")
    (OUT / "flood_defenses.json").write_text(json.dumps(results, indent=1))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
        axes[0].bar(["on", "off"], [on["stall_rate"] * 100, off["stall_rate"] * 100],
                    color=["#15803d", "#b91c1c"])
        axes[0].set_title("listeners with a stall (%)")
        axes[1].bar(["on", "off"], [on_s * 100, off_s * 100], color=["#15803d", "#b91c1c"])
        axes[1].set_title("details requests answered (%)")
        axes[1].set_ylim(0, 105)
        fig.suptitle(f"{args.rate:g} req/s flood, {args.listeners} listeners")
        fig.tight_layout()
        fig.savefig(OUT / "flood_defenses.png", dpi=110)
    except ImportError:
        pass
    print(f"wrote {OUT / 'flood_defenses.json'} and {OUT / 'flood_defenses.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
