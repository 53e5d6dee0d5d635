"""`townhall edge-config`: write an nginx config for a caching edge in front of the origins."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(edge: argparse.ArgumentParser) -> None:
    edge.add_argument("--origin", action="append", required=True,
                      help="[TAG=]host:port (repeat; with several, TAG is each origin's "
                           "--origin-tag)")
    edge.add_argument("--listen", default="8080", help="port or address:port")
    edge.add_argument("--prefix", default="edge", help="dir for cache, temp files, logs")
    edge.add_argument("--out", default=None, help="config path (default <prefix>/nginx.conf)")
    edge.add_argument("--ticket-secret", default=None, help="default: <data-dir>/ticket.secret")
    edge.add_argument("--edge-secret", default=None,
                      help="proves this edge to the origins, which then believe its "
                           "X-Real-IP (default: <data-dir>/edge.secret)")
    edge.add_argument("--data-dir", default="data")
    edge.add_argument("--user", default=None, help="worker user when nginx starts as root")
    edge.add_argument("--worker-connections", type=int, default=16384)
    edge.add_argument("--rlimit-nofile", type=int, default=None,
                      help="worker_rlimit_nofile (production: 2x worker connections)")
    edge.add_argument("--cors-origin", action="append", default=None,
                      help="a site allowed to read media and details (repeat; default *, "
                           "as the origins' cors_origins)")


def run(args: argparse.Namespace) -> int:
    import getpass
    import os

    from townhall.delivery.edge_config import EdgeSettings, directories, render

    secret = args.ticket_secret
    if secret is None:
        path = Path(args.data_dir) / "ticket.secret"
        if not path.exists():
            print(f"edge-config: no --ticket-secret and no {path}; start the origin first or "
                  "pass the secret", file=sys.stderr)
            return 2
        secret = path.read_text().strip()
    edge_secret = args.edge_secret
    if edge_secret is None:
        path = Path(args.data_dir) / "edge.secret"
        edge_secret = path.read_text().strip() if path.exists() else ""
    if not edge_secret:
        print("edge-config: no edge secret (start the origin once, or pass --edge-secret); "
              "without it start each origin with --trusted-proxy <this edge's address>/32",
              file=sys.stderr)
    prefix = Path(args.prefix).resolve()
    user = args.user or (getpass.getuser() if os.geteuid() == 0 else None)
    edge = EdgeSettings(origins=tuple(args.origin), ticket_secret=secret, listen=args.listen,
                        prefix=str(prefix), user=user,
                        worker_connections=args.worker_connections,
                        rlimit_nofile=args.rlimit_nofile,
                        cors_origins=",".join(args.cors_origin or ["*"]),
                        edge_secret=edge_secret)
    for d in directories(edge):
        Path(d).mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else prefix / "nginx.conf"
    out.write_text(render(edge))
    print(f"wrote {out}; run: nginx -c {out} -p {prefix} -g 'daemon off;'")
    return 0
