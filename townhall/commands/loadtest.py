"""`townhall loadtest`: flags -> LoadConfig -> run_load -> summary, JSON report, PNG plots.

The command-line edge of the load generator: registers its subcommand on the `townhall`
parser and turns flags into a `LoadConfig`. Refuses a target off loopback before anything
else. Imports the engine lazily so `townhall --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

DESCRIPTION = ("Simulated listeners join a live space and follow its LL-HLS (or plain HLS) "
               "playlist like players, measuring time to first audio, stalls, distance to the "
               "live edge and errors; optional attackers flood from many 127.x.y.z addresses. "
               "Loopback targets only; the run stops by itself after --duration.")
EXAMPLE = ("example: townhall loadtest --target http://127.0.0.1:8000 --space SPACE "
           "--listeners 1000 --duration 60 --join-window 10 --report out.json --plots out/")


def register(sub: Any) -> None:
    """Add the `loadtest` subcommand to the `townhall` subparsers."""
    p = sub.add_parser("loadtest", help="simulate listeners (and attackers) against a loopback "
                       "deployment", description=DESCRIPTION, epilog=EXAMPLE)
    p.add_argument("--target", required=True,
                   help="origin or edge base URL; loopback only (127.0.0.0/8, ::1, localhost)")
    p.add_argument("--space", required=True, help="space id")
    p.add_argument("--listeners", type=int, default=100)
    p.add_argument("--duration", type=float, default=30.0, help="seconds; the run then stops")
    p.add_argument("--join-window", type=float, default=0.0,
                   help="spread the joins over this many seconds (a join storm); 0: at once")
    p.add_argument("--mode", choices=["ll", "plain"], default="ll",
                   help="ll: LL-HLS parts and blocking reloads; plain: poll, whole segments")
    p.add_argument("--no-preload", action="store_true",
                   help="LL: do not fetch the preload-hinted part alongside the reload")
    p.add_argument("--attack", default="",
                   help="comma list of join,details,random,ticketless,forged,slow")
    p.add_argument("--attack-rate", type=float, default=100.0,
                   help="attack requests (or slow connections) per second, all patterns")
    p.add_argument("--attack-addresses", type=int, default=1016,
                   help="distinct attacker sources 127.10.x.y")
    p.add_argument("--slow-connections", type=int, default=500,
                   help="slowloris connections held at once, at most")
    p.add_argument("--listener-addresses", type=int, default=None,
                   help="distinct listener sources 127.20.x.y (default: one per listener)")
    p.add_argument("--listener-network", type=int, default=20,
                   help="listeners come from 127.<this>.x.y (keep runs side by side apart)")
    p.add_argument("--same-source", action="store_true",
                   help="every listener from the default source address (no 127.x.y.z)")
    p.add_argument("--no-leave", action="store_true", help="keep the seats at the end")
    p.add_argument("--no-grants", action="store_true",
                   help="always join at /api/spaces/ID/join, ignoring the details' join grant")
    p.add_argument("--workers", type=int, default=1,
                   help="run the listeners in this many processes (one report); one "
                        "process carries 1,000-1,500 LL listeners (measured, uvloop)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--report", default=None, help="write the JSON report here")
    p.add_argument("--plots", default=None, help="write PNG plots into this directory")
    p.add_argument("--quiet", action="store_true", help="no live progress")
    p.set_defaults(func=cmd_loadtest)


def cmd_loadtest(args: argparse.Namespace) -> int:
    from townhall.loadtest.config import LoadConfig
    from townhall.loadtest.progress import Progress
    from townhall.loadtest.runner import run_load
    from townhall.loadtest.safety import NotLoopback

    config = LoadConfig(
        target=args.target, space=args.space, listeners=args.listeners,
        duration_s=args.duration, join_window_s=args.join_window, mode=args.mode,
        ll_preload=not args.no_preload,
        attacks=tuple(a.strip() for a in args.attack.split(",") if a.strip()),
        attack_rate=args.attack_rate, attack_addresses=args.attack_addresses,
        slow_connections=args.slow_connections, listener_addresses=args.listener_addresses,
        listener_network=args.listener_network,
        bind_sources=not args.same_source, leave_at_end=not args.no_leave, seed=args.seed,
        use_grants=not args.no_grants)
    try:
        config.validate()
    except NotLoopback as exc:
        print(f"loadtest: refused: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"loadtest: {exc}", file=sys.stderr)
        return 2
    with Progress(config.duration_s, config.listeners, enabled=not args.quiet) as progress:
        if args.workers != 1:
            from townhall.loadtest.workers import run_workers

            try:
                report = run_workers(config, args.workers, on_second=progress.update)
            except ValueError as exc:
                print(f"loadtest: {exc}", file=sys.stderr)
                return 2
        else:
            from townhall.loadtest.eventloop import run

            report = run(run_load(config, on_second=progress.update))
    for line in report.summary_lines():
        print(line)
    if args.report:
        print(f"report: {report.write_json(Path(args.report))}")
    if args.plots:
        from townhall.loadtest.plots import write_plots

        for path in write_plots(report, Path(args.plots)):
            print(f"plot: {path}")
    return 1 if report.crashes else 0
