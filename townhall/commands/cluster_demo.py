"""`townhall cluster-demo`: a whole cluster on this machine, to try failover by hand.

Starts PostgreSQL (Debian's binaries, its own cluster in a temp dir, on a free port; run as the
unprivileged `postgres` user when started as root), redis-server, three `townhall serve`
origins sharing them and their secrets, and one nginx edge in front (`townhall edge-config`),
all on loopback. Creates a demo space, prints the URLs, the command that feeds it and the exact
`kill -9` of the origin running its program, then waits; Ctrl-C (or SIGTERM) stops everything
it started and removes the temp dir. Owns only the processes it starts; needs what
`scripts/setup --test` installs (postgresql, redis-server, nginx, ffmpeg).
"""

from __future__ import annotations

import argparse
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from townhall.space.space_record import new_secret

STARTUP_S = 60.0  # each part must answer within this


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(check: Callable[[], bool], what: str, proc: subprocess.Popen[bytes] | None = None,
          log: Path | None = None) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} exited:\n{tail}")
        try:
            if check():
                return
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start within {STARTUP_S:.0f} s")


def _healthy(base: str, path: str = "/healthz") -> Callable[[], bool]:
    return lambda: httpx.get(f"{base}{path}", timeout=2).status_code == 200


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                   else 0)
    if not found:
        raise RuntimeError("no PostgreSQL under /usr/lib/postgresql: apt-get install "
                           "postgresql (scripts/setup --test does)")
    return found[-1].parent


class Demo:
    """Everything the demo started, in the order to stop it (last first)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.pg_data: Path | None = None
        self.origins: dict[str, tuple[str, int]] = {}  # name -> (base url, pid)

    def _as_postgres(self, cmd: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd

    def spawn(self, name: str, cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
        out = open(log, "wb")  # noqa: SIM115 - the child keeps it
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        out.close()
        self.procs.append((name, proc))
        return proc

    def start_postgres(self) -> str:
        bin_dir = _pg_bin()
        pg_root = self.root / "postgres"
        pg_root.mkdir()
        if os.geteuid() == 0:  # PostgreSQL refuses root: its own unprivileged user
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            os.chown(pg_root, user.pw_uid, user.pw_gid)
        self.pg_data = pg_root / "data"
        subprocess.run(self._as_postgres([str(bin_dir / "initdb"), "-D", str(self.pg_data),
                                          "-U", "postgres", "--auth=trust", "-E", "UTF8",
                                          "--no-sync"]),
                       check=True, capture_output=True, timeout=120)
        port = free_port()
        opts = (f"-c port={port} -c listen_addresses=127.0.0.1 "
                f"-c unix_socket_directories={pg_root} -c max_connections=100")
        subprocess.run(self._as_postgres([str(bin_dir / "pg_ctl"), "-D", str(self.pg_data),
                                          "-l", str(pg_root / "log"), "-o", opts, "-w", "-t",
                                          "60", "start"]),
                       check=True, capture_output=True, timeout=90)
        return f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def start_redis(self) -> int:
        port = free_port()
        proc = self.spawn("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                    "--save", "", "--appendonly", "no",
                                    "--dir", str(self.root)], self.root / "redis.log")

        def pong() -> bool:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        _wait(pong, "redis-server", proc, self.root / "redis.log")
        return port

    def start_origins(self, database: str, redis_port: int, public_url: str) -> None:
        shared = {"ticket.secret": secrets.token_hex(16), "secret.key": secrets.token_hex(32),
                  "admin.key": new_secret(24), "edge.secret": secrets.token_hex(24)}
        started = []
        for i, name in enumerate("abc"):
            data = self.root / name
            data.mkdir()
            for file, value in shared.items():  # one deployment: the same secrets everywhere
                (data / file).write_text(value)
            port = free_port()
            cmd = [sys.executable, "-m", "townhall.cli", "serve", "--port", str(port),
                   "--ingest-port", str(free_port()), "--data-dir", str(data),
                   "--log-level", "warning", "--redis-url", f"redis://127.0.0.1:{redis_port}/0",
                   "--database", database, "--public-url", public_url,
                   "--set", f"origin_name={name}"]
            if i == 0:
                cmd.append("--migrate")  # the first brings the schema; the others wait for it
            proc = self.spawn(f"origin {name}", cmd, data / "server.log")
            (self.root / f"{name}.pid").write_text(str(proc.pid))
            base = f"http://127.0.0.1:{port}"
            self.origins[name] = (base, proc.pid)
            started.append((name, base, proc))
            if i == 0:
                _wait(_healthy(base), "origin a", proc, data / "server.log")
        for name, base, proc in started[1:]:
            _wait(_healthy(base), f"origin {name}", proc, self.root / name / "server.log")

    def start_edge(self, port: int) -> str:
        prefix = self.root / "edge"
        args = []
        for name, (base, _pid) in self.origins.items():
            args += ["--origin", f"{name}={base.removeprefix('http://')}"]
        subprocess.run([sys.executable, "-m", "townhall.cli", "edge-config", *args,
                        "--listen", f"127.0.0.1:{port}", "--prefix", str(prefix),
                        "--data-dir", str(self.root / "a")], check=True, capture_output=True)
        proc = self.spawn("nginx", ["nginx", "-c", str(prefix / "nginx.conf"), "-p", str(prefix),
                                    "-g", "daemon off;"], self.root / "nginx.log")
        url = f"http://127.0.0.1:{port}"
        # the edge hides the origins' /healthz; its own counters answer on loopback
        _wait(_healthy(url, "/edge-status"), "the edge", proc, prefix / "error.log")
        return url

    def stop(self) -> None:
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for _name, proc in reversed(self.procs):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self.pg_data is not None and (self.pg_data / "postmaster.pid").exists():
            subprocess.run(self._as_postgres([str(_pg_bin() / "pg_ctl"), "-D", str(self.pg_data),
                                              "-m", "fast", "-w", "-t", "30", "stop"]),
                           check=False, capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def _create_space(edge: str, admin_key: str) -> dict[str, Any]:
    res = httpx.post(f"{edge}/api/spaces", json={"title": "Cluster demo", "host": "Demo"},
                     headers={"Authorization": f"Bearer {admin_key}"}, timeout=10)
    res.raise_for_status()
    doc: dict[str, Any] = res.json()
    return doc


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt  # SIGTERM as Ctrl-C: stop, in the middle of starting too


def run(args: argparse.Namespace) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per health probe
    root = Path(tempfile.mkdtemp(prefix="townhall-cluster-"))
    root.chmod(0o755)
    print(f"logs under {root}", flush=True)
    demo = Demo(root)
    for sig in (signal.SIGINT, signal.SIGTERM):  # also where a shell started it ignoring SIGINT
        signal.signal(sig, _interrupt)
    try:
        database = demo.start_postgres()
        redis_port = demo.start_redis()
        edge_port = args.port or free_port()
        public = f"http://127.0.0.1:{edge_port}"
        demo.start_origins(database, redis_port, public)
        edge = demo.start_edge(edge_port)
        admin_key = (root / "a" / "admin.key").read_text().strip()
        doc = _create_space(edge, admin_key)
        sid, key = doc["id"], doc["host_key"]
        lease = f"redis-cli -p {redis_port} get townhall:lease:{sid}"
        print(f"edge:        {edge}/   (every page and API; {edge}/edge-status its counters)")
        for name, (base, pid) in demo.origins.items():
            print(f"origin {name}:    {base}   pid {pid}")
        print(f"redis:       redis://127.0.0.1:{redis_port}/0")
        print(f"postgresql:  {database}")
        print(f"admin key:   {admin_key}")
        print(f"demo space:  {edge}/spaces/{sid}   host key {key}")
        print(f"feed it:     townhall broadcast FILE --loop --server {edge} --space {sid} "
              f"--key {key}")
        print(f"failover:    kill -9 $(cat {root}/$({lease}).pid)   # the origin running it")
        print("Ctrl-C stops everything", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    except (RuntimeError, subprocess.CalledProcessError, httpx.HTTPError, OSError) as exc:
        print(f"townhall cluster-demo: {exc}", file=sys.stderr)
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the stop
            signal.signal(sig, signal.SIG_IGN)
        print("stopping the cluster ...", flush=True)
        demo.stop()
    print("stopped", flush=True)
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0, help="the edge's port (default: a free one)")
