"""`townhall broadcast`: push an audio file into a space in real time (the client that does
it is `commands.broadcast_client`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import httpx


def add_arguments(bc: argparse.ArgumentParser) -> None:
    bc.add_argument("file")
    bc.add_argument("--space", help="space id")
    bc.add_argument("--key", help="the space's host key")
    bc.add_argument("--server", default="http://127.0.0.1:8000")
    bc.add_argument("--ingest-url", default=None, help="icecast://source:KEY@host:port/...")
    bc.add_argument("--loop", action="store_true", help="repeat the file until interrupted")


def run(args: argparse.Namespace) -> int:
    from townhall.commands.broadcast_client import broadcast, broadcast_to_space, refusal_line

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
    line = refusal_line(result)  # a final refusal: one line saying why, then the JSON
    if line is not None:
        print(line, file=sys.stderr, flush=True)
    print(json.dumps(result))
    return 0 if result.get("status_code") == 200 else 1
