"""`townhall serve`: run the origin (API, pages, LL-HLS, ingest) on the settings its flags give.

Builds the one `Settings` object from the flags (their defaults are `Settings`' own field
defaults, read here, never restated), keeps the deployment's secrets in the data directory,
fits the connection caps under the open-files limit and hands the app to uvicorn.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from townhall.settings import Settings


def _default(name: str) -> Any:
    """`Settings`' own default for a field (serve's flags never restate one)."""
    for f in fields(Settings):
        if f.name == name:
            if f.default is not MISSING:
                return f.default
            if f.default_factory is not MISSING:
                return f.default_factory()
    raise KeyError(name)


def add_arguments(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--host", default=_default("host"))
    serve.add_argument("--port", type=int, default=_default("port"))
    serve.add_argument("--ingest-port", type=int, default=_default("ingest_port"))
    serve.add_argument("--public-url", default=_default("public_url"),
                       help="base URL used in links")
    serve.add_argument("--data-dir", default=str(_default("data_dir")))
    serve.add_argument("--database", default=None,
                       help="postgresql://user:pw@host:port/db (a cluster's shared store: "
                            "spaces, seats, recordings), or a SQLite file (default in data dir)")
    serve.add_argument("--migrate", action="store_true",
                       default=_default("migrate_on_start"),
                       help="PostgreSQL: migrate an old schema at start instead of refusing")
    serve.add_argument("--recordings", default=None, help="recordings dir (default in data dir)")
    serve.add_argument("--bitrate", type=int, default=_default("bitrate"), help="AAC bit/s")
    serve.add_argument("--idle-pause", type=float, default=_default("idle_pause_s"),
                       help="seconds of silence kept on air after the last source leaves")
    serve.add_argument("--no-tickets", action="store_true",
                       default=not _default("require_tickets"),
                       help="serve media without tickets (private or trusted deployments)")
    serve.add_argument("--ticket-secret", default=None,
                       help="shared with the edges' secure_link (default: kept in data dir)")
    serve.add_argument("--attack-mode", default=_default("attack_mode"),
                       choices=["auto", "on", "off"])
    serve.add_argument("--redis-url", default=_default("redis_url"),
                       help="the cluster's Redis: redis://host:6379/0, or a primary found "
                            "through Sentinel, redis+sentinel://h1:26379,h2:26379/MASTER/0")
    serve.add_argument("--origin-tag", default=_default("origin_tag"),
                       help="with several origins behind edges: this origin's tag, which "
                            "begins its space ids (edge-config --origin TAG=HOST:PORT)")
    serve.add_argument("--trusted-proxy", action="append",
                       help="CIDR whose X-Real-IP is believed (default loopback)")
    serve.add_argument("--signing-key", default=None,
                       help="ECDSA P-256 private key (PEM) that signs recordings (default: "
                            "created in <data-dir>/signing)")
    serve.add_argument("--signing-chain", default=None,
                       help="its X.509 certificate chain (PEM, leaf first)")
    serve.add_argument("--captions", action="store_true",
                       help="caption every space by default (a host may switch it off); "
                            "docs/captions.md")
    serve.add_argument("--captions-model", default=None, metavar="DIR",
                       help="a faster-whisper model directory (default: the bundled tiny.en)")
    serve.add_argument("--captions-language", default=_default("captions_language"),
                       help="the language spoken ('' : the model detects it)")
    serve.add_argument("--set", action="append", metavar="NAME=VALUE",
                       help="override any field of townhall/settings.py")
    serve.add_argument("--metrics-listen", default=_default("metrics_listen"),
                       metavar="HOST:PORT",
                       help="the operator listener for /metrics without a key ('' = off); the "
                            "HTTP port needs the admin key")
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--log-format", default=_default("log_format"), choices=["text", "json"],
                       help="json: one object a line with the space id, for log collectors")


def _kept(data_dir: Path, name: str, make: str) -> str:
    """A per-deployment secret, created once and kept (mode 600) in the data directory."""
    path = data_dir / name
    data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(make)
        path.chmod(0o600)
    return path.read_text().strip()


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from townhall.store.base import StoreUnavailable
    from townhall.store.schema import Database, SchemaError
    from townhall.web.app import create_app, outer

    data_dir = Path(args.data_dir)
    ticket_secret = args.ticket_secret or _kept(data_dir, "ticket.secret", secrets.token_hex(16))
    try:
        db = Database.parse(args.database) if args.database else None
        if args.redis_url:
            from townhall.cluster.redis_connect import check_url

            check_url(args.redis_url)
    except ValueError as exc:
        print(f"townhall: {exc}", file=sys.stderr)
        return 2
    settings = Settings.of(host=args.host, port=args.port, ingest_port=args.ingest_port,
                        public_url=args.public_url, data_dir=data_dir,
                        database=db.path if db else None,
                        database_url=db.url if db else None, migrate_on_start=args.migrate,
                        log_format=args.log_format,
                        recordings_dir=Path(args.recordings) if args.recordings else None,
                        bitrate=args.bitrate, idle_pause_s=args.idle_pause,
                        require_tickets=not args.no_tickets, ticket_secret=ticket_secret,
                        attack_mode=args.attack_mode, redis_url=args.redis_url,
                        origin_tag=args.origin_tag,
                        trusted_proxies=tuple(args.trusted_proxy or _default("trusted_proxies")),
                        admin_key=_kept(data_dir, "admin.key", secrets.token_urlsafe(24)),
                        edge_secret=_kept(data_dir, "edge.secret", secrets.token_hex(24)),
                        secret=bytes.fromhex(_kept(data_dir, "secret.key",
                                                   secrets.token_hex(32))),
                        signing_key_file=Path(args.signing_key) if args.signing_key else None,
                        signing_chain_file=(Path(args.signing_chain) if args.signing_chain
                                            else None),
                        metrics_listen=args.metrics_listen,
                        captions=args.captions,
                        captions_model=(Path(args.captions_model) if args.captions_model
                                        else None),
                        captions_language=args.captions_language,
                        **_overrides(args.set))
    settings, protocol, fitted = _fit_descriptors(settings)
    try:
        app = create_app(settings)
    except (SchemaError, StoreUnavailable) as exc:
        print(f"townhall: {exc}", file=sys.stderr)
        return 2
    where = "PostgreSQL " + app.state.stores.database.shown if settings.store.database_url else \
        f"data in {data_dir.resolve()}"
    banner = (f"townhall is serving on {settings.listen.base_url}/  (ingest on port "
              f"{settings.listen.ingest_port}, {where})")
    key_line = (f"admin key (hosting and operator calls, as 'Authorization: Bearer KEY'): "
                f"{settings.ops.admin_key}  (kept in {(data_dir / 'admin.key').resolve()})")
    if args.log_format == "json":  # every line a JSON object for the collector
        for line in (fitted, banner, key_line):
            logging.getLogger("townhall").warning(line)
    else:
        for line in (fitted, banner, key_line):
            print(line, flush=True)
    logging.getLogger().setLevel(args.log_level.upper())
    # json: keep our handler for uvicorn's lines too; text: uvicorn's own format
    log_config: Any = None if args.log_format == "json" else uvicorn.config.LOGGING_CONFIG
    uvicorn.run(outer(app), host=settings.listen.host, port=settings.listen.port,
                log_level=args.log_level,
                access_log=False, timeout_keep_alive=30, lifespan="on", log_config=log_config,
                http=protocol)
    return 0


def _fit_descriptors(settings: Settings) -> tuple[Settings, type, str]:
    """Raise RLIMIT_NOFILE where allowed and fit the connection caps under it; the line to
    say so."""

    from townhall.live.descriptors import connection_caps, raise_open_files_limit
    from townhall.web.connection_cap import capped_http

    before, after, hard = raise_open_files_limit()
    http_cap, ingest_cap = connection_caps(after, settings.listen.http_max_connections,
                                           settings.ingest.ingest_max_connections,
                                           settings.recording.recorder_reserved_fds)
    settings = settings.replace(http_max_connections=http_cap, ingest_max_connections=ingest_cap)
    line = (f"open files: {after} (soft limit was {before}, hard {hard}); at most {http_cap} "
            f"HTTP and {ingest_cap} ingest connections, {settings.recording.recorder_reserved_fds} "
            "descriptors kept for recordings")
    return settings, capped_http(http_cap, settings.listen.http_head_timeout_s), line


def _overrides(pairs: list[str] | None) -> dict[str, Any]:
    """--set name=value for any numeric or text Settings field (limits, rates, ceilings)."""
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
