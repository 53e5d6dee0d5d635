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
from pathlib import Path
from typing import Any

from townhall.settings import FIELDS, Settings, default, near
from townhall.space.space_record import new_secret

# Each flag that sets a Settings field: (flag, field, argparse keywords). Its default is the
# field's own (`townhall.settings.default`), never restated here; tests/commands/test_serve.py
# holds every flag to it. Three kinds of flag keep None as their default, meaning "as
# Settings says" all the same: `--database` (a path or a URL, parsed into database or
# database_url), an `append` flag (argparse would add to a default list) and a secret kept in
# the data directory (`--ticket-secret`: made once, then read back).
FLAGS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("--host", "host", {}),
    ("--port", "port", {"type": int}),
    ("--ingest-port", "ingest_port", {"type": int}),
    ("--public-url", "public_url", {"help": "base URL used in links"}),
    ("--data-dir", "data_dir", {"type": Path}),
    ("--database", "database_url", {
        "help": "postgresql://user:pw@host:port/db (a cluster's shared store: spaces, seats, "
                "recordings), or a SQLite file (default in data dir)"}),
    ("--migrate", "migrate_on_start", {
        "action": "store_true",
        "help": "PostgreSQL: migrate an old schema at start instead of refusing"}),
    ("--recordings", "recordings_dir", {"type": Path,
                                        "help": "recordings dir (default in data dir)"}),
    ("--bitrate", "bitrate", {"type": int, "help": "AAC bit/s"}),
    ("--idle-pause", "idle_pause_s", {
        "type": float, "help": "seconds of silence kept on air after the last source leaves"}),
    ("--no-tickets", "require_tickets", {
        "action": "store_false",
        "help": "serve media without tickets (private or trusted deployments)"}),
    ("--ticket-secret", "ticket_secret", {
        "help": "shared with the edges' secure_link (default: kept in data dir)"}),
    ("--attack-mode", "attack_mode", {"choices": ["auto", "on", "off"]}),
    ("--redis-url", "redis_url", {
        "help": "the cluster's Redis: redis://host:6379/0, or a primary found through "
                "Sentinel, redis+sentinel://h1:26379,h2:26379/MASTER/0"}),
    ("--origin-tag", "origin_tag", {
        "help": "with several origins behind edges: this origin's tag, which begins its "
                "space ids (edge-config --origin TAG=HOST:PORT)"}),
    ("--trusted-proxy", "trusted_proxies", {
        "action": "append", "help": "CIDR whose X-Real-IP is believed (default loopback)"}),
    ("--signing-key", "signing_key_file", {
        "type": Path, "help": "ECDSA P-256 private key (PEM) that signs recordings (default: "
                              "created in <data-dir>/signing)"}),
    ("--signing-chain", "signing_chain_file", {
        "type": Path, "help": "its X.509 certificate chain (PEM, leaf first)"}),
    ("--captions", "captions", {
        "action": "store_true",
        "help": "caption every space by default (a host may switch it off); docs/captions.md"}),
    ("--captions-model", "captions_model", {
        "type": Path, "metavar": "DIR",
        "help": "a faster-whisper model directory (default: the bundled tiny.en)"}),
    ("--captions-language", "captions_language", {
        "help": "the language spoken ('' : the model detects it)"}),
    ("--metrics-listen", "metrics_listen", {
        "metavar": "HOST:PORT", "help": "the operator listener for /metrics without a key "
                                        "('' = off); the HTTP port needs the admin key"}),
    ("--log-format", "log_format", {
        "choices": ["text", "json"],
        "help": "json: one object a line with the space id, for log collectors"}),
)
# flags whose default stays None, each meaning the Settings default (see above)
DEFAULT_NONE = frozenset({"--database", "--trusted-proxy", "--ticket-secret"})


def add_arguments(serve: argparse.ArgumentParser) -> None:
    for flag, name, keywords in FLAGS:
        serve.add_argument(flag, dest=name,
                           default=None if flag in DEFAULT_NONE else default(name), **keywords)
    serve.add_argument("--set", action="append", metavar="NAME=VALUE",
                       help="override any field of townhall/settings.py by its name")
    serve.add_argument("--log-level", default="info")


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

    data_dir: Path = args.data_dir
    try:
        db = Database.parse(args.database_url) if args.database_url else None
        if args.redis_url:
            from townhall.cluster.redis_connect import check_url

            check_url(args.redis_url)
    except ValueError as exc:
        print(f"townhall: {exc}", file=sys.stderr)
        return 2
    given = {name: getattr(args, name) for _flag, name, _kw in FLAGS}
    given.update(
        database=db.path if db else None, database_url=db.url if db else None,
        trusted_proxies=tuple(args.trusted_proxies or default("trusted_proxies")),
        ticket_secret=(args.ticket_secret
                       or _kept(data_dir, "ticket.secret", secrets.token_hex(16))),
        admin_key=_kept(data_dir, "admin.key", new_secret(24)),
        edge_secret=_kept(data_dir, "edge.secret", secrets.token_hex(24)),
        secret=bytes.fromhex(_kept(data_dir, "secret.key", secrets.token_hex(32))))
    try:
        settings = Settings.of(**{**given, **_overrides(args.set)})
    except ValueError as exc:  # a section refused a field: one line naming it
        print(f"townhall: {exc}", file=sys.stderr)
        return 2
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
    """--set name=value for any Settings field, by its flat name, converted to its type."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or name not in FIELDS:
            raise SystemExit(f"--set: unknown setting {name!r}{near(name)}")
        kind = str(FIELDS[name][1].type).removesuffix(" | None")
        try:
            out[name] = (int(value) if kind == "int" else float(value) if kind == "float"
                         else value.lower() in ("1", "true", "yes") if kind == "bool"
                         else Path(value) if kind == "Path" else value)
        except ValueError:
            raise SystemExit(f"--set: {name} takes a number ({kind}), not {value!r}") from None
    return out
