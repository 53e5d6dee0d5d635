"""`townhall tickets shared`: find the seats played from too many addresses in the edges'
seat logs (each log with its rotated history, seats.log.1), and (with `--revoke`) refuse them
at the origins and at each edge. `townhall tickets rotate`: keep each edge's seats.log within
`seat_log_max_bytes` (live/seat_log.py), once or every `--every` seconds (`townhall serve`
does it by itself for the edges in `seat_log_edges`; this is for cron and other hosts)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import httpx

TAIL_BYTES = 64 * 1024 * 1024  # of a live log read at most (the rotation keeps it smaller)


def add_arguments(tickets: argparse.ArgumentParser) -> None:
    from townhall.settings import Settings

    defaults = Settings()
    tickets_sub = tickets.add_subparsers(dest="tickets_command", required=True)
    rotate = tickets_sub.add_parser("rotate", help="bound an edge's seats.log by size")
    rotate.add_argument("--edge-prefix", action="append", default=[], required=True,
                        help="an edge's prefix (its seats.log and nginx.pid); repeat for each")
    rotate.add_argument("--max-bytes", type=int, default=defaults.admission.seat_log_max_bytes,
                        help="rotate past this size; the history is kept within it too")
    rotate.add_argument("--window", type=float, default=defaults.admission.seat_log_window_s,
                        help="seconds of seat starts kept in the history")
    rotate.add_argument("--every", type=float, default=0.0,
                        help="check every this many seconds (0: once)")
    rotate.add_argument("--force", action="store_true", help="rotate whatever the size")
    shared = tickets_sub.add_parser("shared", help="seats played from too many addresses")
    shared.add_argument("--log", action="append", default=None,
                        help="an edge's seats.log (default edge/seats.log); repeat for each "
                             "edge: a seat shared across edges is found too")
    shared.add_argument("--max-addresses", type=int, default=2,
                        help="addresses one listener may use (home, phone)")
    shared.add_argument("--window", type=float, default=defaults.admission.seat_log_window_s,
                        help="seconds of log to read")
    shared.add_argument("--revoke", action="store_true", help="revoke what is found")
    shared.add_argument("--server", default="http://127.0.0.1:8000")
    shared.add_argument("--data-dir", default="data", help="where admin.key is")
    shared.add_argument("--edge-prefix", action="append", default=[],
                        help="with --revoke: also refuse the seats at this edge (its "
                             "revoked.map, then nginx -s reload); repeat for each edge")


def run(args: argparse.Namespace) -> int:
    if args.tickets_command == "rotate":
        return _rotate(args)
    import time

    from townhall.admission.seat_log import ROTATED_SUFFIX
    from townhall.admission.shared_tickets import shared_seats

    lines: list[str] = []
    for log_path in args.log or ["edge/seats.log"]:  # every edge's log: one audience
        path = Path(log_path)
        if not path.is_file():
            print(f"tickets shared: no log at {path}", file=sys.stderr)
            return 2
        history = path.with_name(path.name + ROTATED_SUFFIX)
        if history.is_file():  # compacted by `tickets rotate`: bounded, read whole
            lines += history.read_bytes().decode("latin-1").splitlines()
        size = path.stat().st_size
        if size > TAIL_BYTES:
            print(f"tickets shared: {path} is {size} bytes; reading its last {TAIL_BYTES} "
                  "(bound it with 'townhall tickets rotate')", file=sys.stderr)
        with open(path, "rb") as f:  # the tail is enough: the window is recent
            f.seek(max(0, size - TAIL_BYTES))
            lines += f.read().decode("latin-1").splitlines()
    found = shared_seats(lines, args.max_addresses, time.time() - args.window)
    key = None
    if args.revoke:
        key = (Path(args.data_dir) / "admin.key").read_text().strip()
    for seat in found:
        doc: dict[str, Any] = {"space": seat.space, "seat": seat.seat,
                               "addresses": seat.addresses}
        for edge in args.edge_prefix if key is not None else []:  # refused there from now on
            with open(Path(edge) / "revoked.map", "a") as f:
                f.write(f'"{seat.space}/{seat.seat}" 1;\n')
        if key is not None:
            res = httpx.post(f"{args.server.rstrip('/')}/api/admin/spaces/{seat.space}/seats/"
                             f"{seat.seat}/revoke", headers={"Authorization": f"Bearer {key}"},
                             timeout=10)
            doc["revoked"] = res.status_code == 200
        print(json.dumps(doc))
    for edge in args.edge_prefix if found and args.revoke else []:
        import subprocess

        prefix = Path(edge).resolve()
        done = subprocess.run(["nginx", "-s", "reload", "-c", str(prefix / "nginx.conf"),
                               "-p", str(prefix)], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"tickets shared: nginx reload of {prefix} failed: {done.stderr.strip()}",
                  file=sys.stderr)
            return 1
    return 0


def _rotate(args: argparse.Namespace) -> int:
    import dataclasses
    import time

    from townhall.live.seat_log import rotate

    while True:
        for prefix in args.edge_prefix:
            done = rotate(Path(prefix), args.max_bytes, args.window, force=args.force)
            if done.rotated:
                print(json.dumps({"edge": prefix, **dataclasses.asdict(done)}), flush=True)
        if args.every <= 0:
            return 0
        time.sleep(args.every)
