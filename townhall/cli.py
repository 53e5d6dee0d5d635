"""The townhall command: serve, broadcast. Builds Settings from flags; nothing else reads
the environment."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import secrets
import sys
from pathlib import Path
from typing import Any

import httpx


def _kept(data_dir: Path, name: str, make: str) -> str:
    """A per-deployment secret, created once and kept (mode 600) in the data directory."""
    path = data_dir / name
    data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(make)
        path.chmod(0o600)
    return path.read_text().strip()


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from townhall.settings import Settings
    from townhall.web.app import create_app, outer

    data_dir = Path(args.data_dir)
    ticket_secret = args.ticket_secret or _kept(data_dir, "ticket.secret", secrets.token_hex(16))
    from townhall.store.base import StoreUnavailable
    from townhall.store.schema import Database, SchemaError

    try:
        db = Database.parse(args.database) if args.database else None
        if args.redis_url:
            from townhall.cluster.redis_connect import check_url

            check_url(args.redis_url)
    except ValueError as exc:
        print(f"townhall: {exc}", file=sys.stderr)
        return 2
    settings = Settings(host=args.host, port=args.port, ingest_port=args.ingest_port,
                        public_url=args.public_url, data_dir=data_dir,
                        database=db.path if db else None,
                        database_url=db.url if db else None, migrate_on_start=args.migrate,
                        log_format=args.log_format,
                        recordings_dir=Path(args.recordings) if args.recordings else None,
                        bitrate=args.bitrate, idle_pause_s=args.idle_pause,
                        require_tickets=not args.no_tickets, ticket_secret=ticket_secret,
                        attack_mode=args.attack_mode, redis_url=args.redis_url,
                        origin_tag=args.origin_tag,
                        trusted_proxies=tuple(args.trusted_proxy or ("127.0.0.0/8", "::1/128")),
                        admin_key=_kept(data_dir, "admin.key", secrets.token_urlsafe(24)),
                        edge_secret=_kept(data_dir, "edge.secret", secrets.token_hex(24)),
                        secret=bytes.fromhex(_kept(data_dir, "secret.key",
                                                   secrets.token_hex(32))),
                        signing_key_file=Path(args.signing_key) if args.signing_key else None,
                        signing_chain_file=(Path(args.signing_chain) if args.signing_chain
                                            else None),
                        **_overrides(args.set))
    settings, protocol, fitted = _fit_descriptors(settings)
    try:
        app = create_app(settings)
    except (SchemaError, StoreUnavailable) as exc:
        print(f"townhall: {exc}", file=sys.stderr)
        return 2
    where = "PostgreSQL " + app.state.stores.database.shown if settings.database_url else \
        f"data in {data_dir.resolve()}"
    banner = (f"townhall is serving on {settings.base_url}/  (ingest on port "
              f"{settings.ingest_port}, {where})")
    key_line = (f"admin key (hosting and operator calls, as 'Authorization: Bearer KEY'): "
                f"{settings.admin_key}  (kept in {(data_dir / 'admin.key').resolve()})")
    if args.log_format == "json":  # every line a JSON object for the collector
        for line in (fitted, banner, key_line):
            logging.getLogger("townhall").warning(line)
    else:
        for line in (fitted, banner, key_line):
            print(line, flush=True)
    logging.getLogger().setLevel(args.log_level.upper())
    # json: keep our handler for uvicorn's lines too; text: uvicorn's own format
    log_config: Any = None if args.log_format == "json" else uvicorn.config.LOGGING_CONFIG
    uvicorn.run(outer(app), host=settings.host, port=settings.port, log_level=args.log_level,
                access_log=False, timeout_keep_alive=30, lifespan="on", log_config=log_config,
                http=protocol)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from townhall.store.base import StoreUnavailable
    from townhall.store.schema import Database, migrate

    try:
        db = Database.parse(args.database or str(Path(args.data_dir) / "townhall.sqlite3"))
        before, after = migrate(db)
    except (ValueError, StoreUnavailable) as exc:
        print(f"townhall migrate: {exc}", file=sys.stderr)
        return 2
    what = "already at" if before == after else f"migrated from {before or 'none'} to"
    print(f"{db.shown}: {what} schema {after}")
    return 0


def _fit_descriptors(settings: Any) -> tuple[Any, type, str]:
    """Raise RLIMIT_NOFILE where allowed and fit the connection caps under it; the line to
    say so."""
    from dataclasses import replace

    from townhall.live.descriptors import connection_caps, raise_open_files_limit
    from townhall.web.connection_cap import capped_http

    before, after, hard = raise_open_files_limit()
    http_cap, ingest_cap = connection_caps(after, settings.http_max_connections,
                                           settings.ingest_max_connections,
                                           settings.recorder_reserved_fds)
    settings = replace(settings, http_max_connections=http_cap,
                       ingest_max_connections=ingest_cap)
    line = (f"open files: {after} (soft limit was {before}, hard {hard}); at most {http_cap} "
            f"HTTP and {ingest_cap} ingest connections, {settings.recorder_reserved_fds} "
            "descriptors kept for recordings")
    return settings, capped_http(http_cap, settings.http_head_timeout_s), line


def _overrides(pairs: list[str] | None) -> dict[str, Any]:
    """--set name=value for any numeric or text Settings field (limits, rates, ceilings)."""
    from dataclasses import fields

    from townhall.settings import Settings

    kinds = {f.name: f.type for f in fields(Settings)}
    out: dict[str, Any] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or name not in kinds:
            raise SystemExit(f"--set: unknown setting {name!r}")
        kind = str(kinds[name])
        out[name] = (int(value) if kind == "int" else float(value) if kind == "float"
                     else value.lower() in ("1", "true", "yes") if kind == "bool" else value)
    return out


def cmd_broadcast(args: argparse.Namespace) -> int:
    from townhall.broadcast import broadcast, broadcast_to_space

    ingest_url = args.ingest_url
    if ingest_url is None and (not args.space or not args.key):
        print("broadcast: give --ingest-url, or --space and --key", file=sys.stderr)
        return 2
    path = Path(args.file)
    if not path.is_file():
        print(f"broadcast: no such file {path}", file=sys.stderr)
        return 2
    if ingest_url is None:  # through the server (an edge): reconnects to any origin
        server = args.server.rstrip("/")
        try:
            httpx.get(f"{server}/api/spaces/{args.space}", timeout=10)
        except httpx.HTTPError as exc:
            print(f"broadcast: cannot reach {server}: {exc}", file=sys.stderr)
            return 1
        result = asyncio.run(broadcast_to_space(
            path, server, args.space, args.key, loop_forever=args.loop,
            log=lambda line: print(line, file=sys.stderr, flush=True)))
    else:
        result = asyncio.run(broadcast(path, ingest_url, loop_forever=args.loop,
                                       log=lambda line: print(line, file=sys.stderr,
                                                              flush=True)))
    print(json.dumps(result))
    return 0 if result.get("status_code") == 200 else 1


def cmd_edge_config(args: argparse.Namespace) -> int:
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


def cmd_keys(args: argparse.Namespace) -> int:
    import time

    from townhall.store.base import StoreUnavailable
    from townhall.store.keys import KeyStore, new_api_key
    from townhall.store.schema import Database, SchemaError, check

    try:
        db = Database.parse(args.database or str(Path(args.data_dir) / "townhall.sqlite3"))
        store: KeyStore
        if db.url is not None:  # a cluster's keys: every origin sees them at once
            from townhall.store.postgres import Postgres
            from townhall.store.postgres_keys import PostgresKeyStore

            check(db, migrate_if_old=False)
            pool = Postgres(db.url, pool_size=1, timeout_s=5.0, retry_s=1.0)
            store = PostgresKeyStore(pool)
        else:
            from townhall.store.sqlite_keys import SqliteKeyStore

            assert db.path is not None
            pool = None
            store = SqliteKeyStore(db.path)
    except (ValueError, SchemaError, StoreUnavailable) as exc:
        print(f"keys: {exc}", file=sys.stderr)
        return 2
    try:
        if args.keys_command == "create":
            try:
                record, key = new_api_key(args.name, args.role, time.time())
            except ValueError as exc:
                print(f"keys create: {exc}", file=sys.stderr)
                return 2
            store.add(record)
            print(json.dumps({**record.public(), "key": key}))
        elif args.keys_command == "list":
            for k in store.list():
                print(json.dumps(k.public()))
        else:
            revoked = store.revoke(args.id, time.time())
            if revoked is None:
                print(f"keys revoke: no key with id {args.id!r}", file=sys.stderr)
                return 1
            print(json.dumps(revoked.public()))
    except StoreUnavailable as exc:
        print(f"keys: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
        if pool is not None:
            pool.close()
    return 0


def cmd_tickets(args: argparse.Namespace) -> int:
    import time

    from townhall.admission.shared_tickets import shared_seats

    lines: list[str] = []
    for log_path in args.log or ["edge/seats.log"]:  # every edge's log: one audience
        path = Path(log_path)
        if not path.is_file():
            print(f"tickets shared: no log at {path}", file=sys.stderr)
            return 2
        with open(path, "rb") as f:  # the tail is enough: the window is recent
            f.seek(max(0, path.stat().st_size - 64 * 1024 * 1024))
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="townhall", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the origin (API, pages, LL-HLS, ingest)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--ingest-port", type=int, default=8001)
    serve.add_argument("--public-url", default=None, help="base URL used in links")
    serve.add_argument("--data-dir", default="data")
    serve.add_argument("--database", default=None,
                       help="postgresql://user:pw@host:port/db (a cluster's shared store: "
                            "spaces, seats, recordings), or a SQLite file (default in data dir)")
    serve.add_argument("--migrate", action="store_true",
                       help="PostgreSQL: migrate an old schema at start instead of refusing")
    serve.add_argument("--recordings", default=None, help="recordings dir (default in data dir)")
    serve.add_argument("--bitrate", type=int, default=64000, help="AAC bit/s")
    serve.add_argument("--idle-pause", type=float, default=30.0,
                       help="seconds of silence kept on air after the last source leaves")
    serve.add_argument("--no-tickets", action="store_true",
                       help="serve media without tickets (private or trusted deployments)")
    serve.add_argument("--ticket-secret", default=None,
                       help="shared with the edges' secure_link (default: kept in data dir)")
    serve.add_argument("--attack-mode", default="auto", choices=["auto", "on", "off"])
    serve.add_argument("--redis-url", default=None,
                       help="the cluster's Redis: redis://host:6379/0, or a primary found "
                            "through Sentinel, redis+sentinel://h1:26379,h2:26379/MASTER/0")
    serve.add_argument("--origin-tag", default="",
                       help="with several origins behind edges: this origin's tag, which "
                            "begins its space ids (edge-config --origin TAG=HOST:PORT)")
    serve.add_argument("--trusted-proxy", action="append",
                       help="CIDR whose X-Real-IP is believed (default loopback)")
    serve.add_argument("--signing-key", default=None,
                       help="ECDSA P-256 private key (PEM) that signs recordings (default: "
                            "created in <data-dir>/signing)")
    serve.add_argument("--signing-chain", default=None,
                       help="its X.509 certificate chain (PEM, leaf first)")
    serve.add_argument("--set", action="append", metavar="NAME=VALUE",
                       help="override any field of townhall/settings.py")
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--log-format", default="text", choices=["text", "json"],
                       help="json: one object a line with the space id, for log collectors")
    serve.set_defaults(func=cmd_serve)

    mig = sub.add_parser("migrate", help="bring the database schema up to date")
    mig.add_argument("--database", default=None,
                     help="postgresql://... or a SQLite file (default <data-dir>/townhall.sqlite3)")
    mig.add_argument("--data-dir", default="data")
    mig.set_defaults(func=cmd_migrate)

    bc = sub.add_parser("broadcast", help="push an audio file into a space in real time")
    bc.add_argument("file")
    bc.add_argument("--space", help="space id")
    bc.add_argument("--key", help="the space's host key")
    bc.add_argument("--server", default="http://127.0.0.1:8000")
    bc.add_argument("--ingest-url", default=None, help="icecast://source:KEY@host:port/...")
    bc.add_argument("--loop", action="store_true", help="repeat the file until interrupted")
    bc.set_defaults(func=cmd_broadcast)

    edge = sub.add_parser("edge-config", help="write an nginx config for a caching edge")
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
    edge.set_defaults(func=cmd_edge_config)

    keys = sub.add_parser("keys", help="issue, list and revoke hosting API keys")
    keys.add_argument("--data-dir", default="data")
    keys.add_argument("--database", default=None,
                      help="SQLite file (default in data dir) or postgresql://...")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="issue a key (printed once)")
    create.add_argument("--name", required=True, help="who the key is for")
    create.add_argument("--role", default="host", choices=["host", "admin"])
    keys_sub.add_parser("list", help="every key, without secrets")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("id")
    keys.set_defaults(func=cmd_keys)

    tickets = sub.add_parser("tickets", help="find (and revoke) tickets shared by many")
    tickets_sub = tickets.add_subparsers(dest="tickets_command", required=True)
    shared = tickets_sub.add_parser("shared", help="seats played from too many addresses")
    shared.add_argument("--log", action="append", default=None,
                        help="an edge's seats.log (default edge/seats.log); repeat for each "
                             "edge: a seat shared across edges is found too")
    shared.add_argument("--max-addresses", type=int, default=2,
                        help="addresses one listener may use (home, phone)")
    shared.add_argument("--window", type=float, default=600.0, help="seconds of log to read")
    shared.add_argument("--revoke", action="store_true", help="revoke what is found")
    shared.add_argument("--server", default="http://127.0.0.1:8000")
    shared.add_argument("--data-dir", default="data", help="where admin.key is")
    shared.add_argument("--edge-prefix", action="append", default=[],
                        help="with --revoke: also refuse the seats at this edge (its "
                             "revoked.map, then nginx -s reload); repeat for each edge")
    tickets.set_defaults(func=cmd_tickets)
    from townhall import verify_command

    ver = sub.add_parser("verify", help="check a replay or clip against its signed record")
    verify_command.add_arguments(ver)
    ver.set_defaults(func=verify_command.command)

    from townhall.simulate import cli as simulate_cli

    sim = sub.add_parser("simulate", help="model a deployment for millions of listeners")
    simulate_cli.add_arguments(sim)
    sim.set_defaults(func=simulate_cli.run)

    from townhall.ops import cluster_demo

    demo = sub.add_parser("cluster-demo", help="PostgreSQL, Redis, three origins and an edge "
                                               "on this machine, to try failover")
    cluster_demo.add_arguments(demo)
    demo.set_defaults(func=cluster_demo.run)

    from townhall.loadtest import cli as loadtest_cli

    loadtest_cli.register(sub)

    args = parser.parse_args(argv)
    from townhall.ops.logs import configure

    configure(getattr(args, "log_format", "text"))
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
