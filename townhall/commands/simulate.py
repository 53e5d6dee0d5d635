"""`townhall simulate`: print the model's tables for given audiences (default 1.3 M and 8 M)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from townhall.simulate.model import (
    LL_PLAYLIST_BYTES,
    STANDARD_PLAYLIST_BYTES,
    Capacities,
    Deployment,
    Player,
    join_storm,
    steady_state,
)

TIERS = {"ll": "low", "plain": "standard"}  # player mode -> latency tier

ROWS = [
    ("ticket lifetime s", "ticket_ttl_s"),
    ("per listener, requests/s", "per_listener_requests_per_s"),
    ("edge requests/s (all)", "edge_requests_per_s"),
    ("wire kb/s per listener", "wire_kbps_per_listener"),
    ("edge egress Gb/s", "edge_egress_gbps"),
    ("edges for requests", "edges_for_requests"),
    ("edges for egress", "edges_for_egress"),
    ("edges needed", "edges"),
    ("shield requests/s", "shield_requests_per_s"),
    ("origin cache fills/s", "origin_fill_requests_per_s"),
    ("origin ticket renewals/s", "origin_renewals_per_s"),
    ("origin requests/s", "origin_requests_per_s"),
    ("origins needed (all spaces)", "origins"),
    ("standbys' replication cores", "standby_replication_cores"),
    ("origins admitting one space", "join_origins"),
    ("home origin requests/s (one space)", "home_origin_requests_per_s"),
    ("home origin load (x one origin)", "home_origin_load"),
    ("collapse ratio (edge/origin fills)", "collapse_ratio"),
]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listeners", type=float, action="append",
                   help="audience size (repeat); default 1.3e6 and 8e6")
    p.add_argument("--mode", choices=["ll", "plain", "both"], default="both",
                   help="ll: the low-latency tier; plain: the standard tier (whole segments)")
    p.add_argument("--edge-cores", type=int, default=16, help="nginx worker cores per edge")
    p.add_argument("--edge-core-rps", type=float, default=None,
                   help="requests/s one nginx worker core answers (default: the capacities "
                        "file's, measured by bench/capacities.py)")
    p.add_argument("--edge-gbps", type=float, default=10.0, help="one edge's egress, Gb/s")
    p.add_argument("--part", type=float, default=0.32, help="part duration, s")
    p.add_argument("--segment", type=float, default=2.24, help="segment duration, s")
    p.add_argument("--bitrate", type=int, default=64_000)
    p.add_argument("--reloads-per-part", type=float, default=0.5,
                   help="LL playlist reloads per part: 0.5 for the page's hls.js (it answers "
                        "every second one from the preload hint), 1 for stock LL players")
    p.add_argument("--ticket-ttl", type=float, default=120.0,
                   help="shortest ticket lifetime, s (the server's seat_ttl_s)")
    p.add_argument("--ticket-ttl-max", type=float, default=1800.0,
                   help="longest, for a big uncapped audience (seat_ttl_max_s)")
    p.add_argument("--renewals-budget", type=float, default=500.0,
                   help="renewals/s per space the lifetime keeps to (renewals_per_s_per_space)")
    p.add_argument("--spaces", type=int, default=1,
                   help="the audience is split evenly over this many spaces")
    p.add_argument("--capped", action="store_true",
                   help="the spaces have a listener cap: joins and renewals stay on the home")
    p.add_argument("--origins", type=int, default=None,
                   help="origins deployed (default: as many as the steady load needs)")
    p.add_argument("--shields", type=int, default=0)
    p.add_argument("--join-window", type=float, default=60.0,
                   help="seconds over which the audience arrives")
    p.add_argument("--capacities", type=Path, default=None,
                   help="JSON of Capacities fields, as bench/capacities.py writes "
                        "bench/out/capacities.json (default: the measured copy shipped "
                        "with townhall, townhall/simulate/capacities.json)")
    p.add_argument("--json", type=Path, default=None, help="also write the tables here")


def run(args: argparse.Namespace) -> int:
    given = {"edge_cores": args.edge_cores, "edge_egress_gbps": args.edge_gbps}
    if args.edge_core_rps is not None:
        given["edge_requests_per_s_per_core"] = args.edge_core_rps
    caps = Capacities.measured(args.capacities, **given)
    modes = ["ll", "plain"] if args.mode == "both" else [args.mode]
    players = {m: Player(mode=m, part_s=args.part, segment_s=args.segment,
                         ticket_ttl_s=args.ticket_ttl,
                         ticket_ttl_max_s=max(args.ticket_ttl, args.ticket_ttl_max),
                         renewals_per_s_per_space=args.renewals_budget,
                         reloads_per_part=args.reloads_per_part,
                         playlist_bytes=LL_PLAYLIST_BYTES if m == "ll"
                         else STANDARD_PLAYLIST_BYTES) for m in modes}
    sizes = [int(n) for n in (args.listeners or [1.3e6, 8e6])]
    columns = [(n, m) for n in sizes for m in modes]
    audiences = [n for n, _ in columns]
    tables = [steady_state(Deployment(n, args.bitrate, players[m], caps, shields=args.shields,
                                      spaces=args.spaces, capped=args.capped))
              for n, m in columns]
    # an open space's joins go to any origin (join grants), a capped one's to its home
    storms = [join_storm(max(1, n // args.spaces), args.join_window, caps.origin_joins_per_s
                         * (1 if args.capped else (args.origins or t["origins"])))
              for (n, m), t in zip(columns, tables, strict=True) if m == modes[0]]
    width = max(len(r[0]) for r in ROWS)
    print("townhall deployment model (capacities per node: " + ", ".join(
        f"{k}={v:g}" for k, v in caps.__dict__.items() if v is not None) + ")")
    print(" " * width + "".join(f"{n:>16,}" for n in audiences))
    print(" " * width + "".join(f"{TIERS[m]:>16}" for _, m in columns))
    for label, key in ROWS:
        print(f"{label:<{width}}" + "".join(f"{t[key]:>16,}" for t in tables))
    who = "its hash origin admits it" if args.capped else \
        "every origin admits it, with join grants"
    print(f"join storm of one space over {args.join_window:g} s ({who}):")
    for s in storms:
        print(f"  {s['listeners']:,} listeners: all answered after {s['all_answered_after_s']} s,"
              f" median wait {s['median_wait_s']} s, worst {s['worst_wait_s']} s")
    if any(t["home_origin_load"] > 1 for t in tables):
        print("A home origin load above 1 means one origin cannot carry that space's cache "
              "fills" + (", joins and renewals" if args.capped else "") + ": add shields.")
    print("Capacities are one machine's benchmark numbers; the model extrapolates them.")
    if args.json:
        args.json.write_text(json.dumps({"steady_state": tables, "join_storms": [
            {k: v for k, v in s.items() if k != "curve"} for s in storms]}, indent=1))
    return 0
