"""The `townhall` command: one subcommand per module of `townhall.commands`, each adding its
own flags and running itself. Builds the parser and dispatches; nothing else."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from types import ModuleType

from townhall.commands import (
    broadcast,
    cluster_demo,
    edge_config,
    keys,
    loadtest,
    migrate,
    serve,
    simulate,
    tickets,
    verify,
)

# (name, help, module, its run function): in the order `townhall --help` lists them
COMMANDS: tuple[tuple[str, str, ModuleType, Callable[[argparse.Namespace], int]], ...] = (
    ("serve", "run the origin (API, pages, LL-HLS, ingest)", serve, serve.run),
    ("migrate", "bring the database schema up to date", migrate, migrate.run),
    ("broadcast", "push an audio file into a space in real time", broadcast, broadcast.run),
    ("edge-config", "write an nginx config for a caching edge", edge_config, edge_config.run),
    ("keys", "issue, list and revoke hosting API keys", keys, keys.run),
    ("tickets", "find (and revoke) tickets shared by many", tickets, tickets.run),
    ("verify", "check a replay or clip against its signed record", verify, verify.command),
    ("simulate", "model a deployment for millions of listeners", simulate, simulate.run),
    ("cluster-demo", "PostgreSQL, Redis, three origins and an edge on this machine, to try "
                     "failover", cluster_demo, cluster_demo.run),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="townhall", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_, module, run in COMMANDS:
        command = sub.add_parser(name, help=help_)
        module.add_arguments(command)
        command.set_defaults(func=run)
    loadtest.register(sub)  # adds its own parser (description and example with it)

    args = parser.parse_args(argv)
    from townhall.ops.logs import configure

    configure(getattr(args, "log_format", "text"))
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
