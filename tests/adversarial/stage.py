"""A real edge (`townhall edge-config`, tests/edge_helpers) in front of a real origin, with a
counting relay between them: every request the edge sends an origin is seen and counted, so a
test can say how many origin requests (and connections) a family of client requests cost.
Loopback only; everything started here is stopped by the context manager."""

from __future__ import annotations

import dataclasses
import http.client
import json
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harness.edge import Edge, start_edge_over
from harness.hls_client import parse_playlist
from harness.server import Server, free_port, push_tone, start_server, stop_process, stop_server

HEAD_END = b"\r\n\r\n"
LENGTH = re.compile(rb"^content-length:\s*(\d+)\s*$", re.I | re.M)


class CountingRelay:
    """A TCP relay on 127.0.0.1 to `target` that records the request target of every HTTP/1
    request passing through it (bodies by Content-Length; the edge sends no other kind here)
    and counts connections."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requests: list[str] = []
        self.connections = 0
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def seen(self) -> list[str]:
        with self.lock:
            return list(self.requests)

    def count(self, pattern: str) -> int:
        """Origin requests so far whose target matches `pattern` (re.search)."""
        return sum(1 for r in self.seen() if re.search(pattern, r))

    def close(self) -> None:
        self.listener.close()
        with self.lock:
            for s in self.sockets:
                with suppress(OSError):
                    s.close()

    def _accept(self) -> None:
        while True:
            try:
                down, _ = self.listener.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(self.target, timeout=5)
            except OSError:
                down.close()
                continue
            up.settimeout(None)
            with self.lock:
                self.connections += 1
                self.sockets += [down, up]
            threading.Thread(target=self._upstream, args=(down, up), daemon=True).start()
            threading.Thread(target=self._pipe, args=(up, down), daemon=True).start()

    def _upstream(self, down: socket.socket, up: socket.socket) -> None:
        buf, body_left = b"", 0
        try:
            while data := down.recv(65536):
                up.sendall(data)
                buf += data
                while True:
                    if body_left:
                        taken = min(body_left, len(buf))
                        buf, body_left = buf[taken:], body_left - taken
                        if body_left:
                            break
                    end = buf.find(HEAD_END)
                    if end < 0:
                        break
                    head, buf = buf[:end], buf[end + 4:]
                    line = head.split(b"\r\n", 1)[0].decode("latin-1")
                    with self.lock:
                        self.requests.append(line.split(" ")[1] if " " in line else line)
                    m = LENGTH.search(head)
                    body_left = int(m.group(1)) if m else 0
        except OSError:
            pass
        finally:
            for s in (down, up):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


@dataclass
class Stage:
    origin: Server
    relay: CountingRelay
    edge: Edge
    live_id: str
    media_base: str  # the edge's ticketed base URL of the live space
    replay_id: str | None  # a sealed replay (clips), when asked for

    def media(self, tail: str, client: httpx.Client, **kw: object) -> httpx.Response:
        return client.get(f"{self.media_base}/{tail}", **kw)  # type: ignore[arg-type]

    def last_complete(self, client: httpx.Client) -> tuple[int, int]:
        """(last complete segment, parts per segment) from the live playlist, via the edge."""
        pl = parse_playlist(self.media("media.m3u8", client).text)
        per = Counter(m for m, _, _, _ in pl.parts)
        return max(m for m, _, _ in pl.segments), max(per.values())


def edge_counters(relay: CountingRelay) -> Counter[str]:
    """Origin requests so far by path (query cut)."""
    return Counter(r.split("?", 1)[0] for r in relay.seen())


@contextmanager
def edge_stage(root: Path, *, live_s: float = 90, replay: bool = False) -> Iterator[Stage]:
    """An origin (attack mode off: these tests flood on purpose), a counting relay, an edge
    over the relay; a live space on air with a tone for `live_s`, and, with `replay`, a
    space that was live for 5 s and ended (its replay is sealed)."""
    edge_port = free_port()
    origin = start_server(root / "data", "--attack-mode", "off",
                          "--public-url", f"http://127.0.0.1:{edge_port}")
    relay = CountingRelay(("127.0.0.1", int(origin.base_url.rsplit(":", 1)[1])))
    edge: Edge | None = None
    pushes = []
    try:
        via = dataclasses.replace(origin, base_url=f"http://127.0.0.1:{relay.port}")
        edge = start_edge_over({"": via}, root / "edge", edge_port)
        live = origin.create_space(title="Live")
        pushes.append(push_tone(live["ingest_url"], live_s))
        replay_id = None
        if replay:
            done = origin.create_space(title="Replay")
            short = push_tone(done["ingest_url"], 5, 660)
            pushes.append(short)
        origin.wait_on_air(live["id"], 30)
        if replay:
            assert short.wait(40) == 0
            assert origin.end_space(done).status_code == 200
            replay_id = done["id"]
        joined = httpx.post(f"{edge.url}/api/spaces/{live['id']}/join", json={}, timeout=10)
        assert joined.status_code == 200, joined.text
        base = joined.json()["playlist_url"].rsplit("/", 1)[0]
        if replay_id is not None:
            _wait_published(origin.base_url, replay_id)
        yield Stage(origin, relay, edge, live["id"], base, replay_id)
    finally:
        for p in pushes:
            stop_process(p)
        if edge is not None:
            edge.stop()
        relay.close()
        stop_server(origin)


def _wait_published(origin: str, sid: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r = httpx.get(f"{origin}/record/{sid}", timeout=10)
        if r.status_code == 200 and r.json().get("state") == "published":
            return
        time.sleep(0.3)
    raise TimeoutError("the replay was not sealed")


@dataclass
class RawReply:
    status_code: int
    headers: dict[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


class RawClient:
    """GET exactly the bytes of a URL's path and query, as generated (httpx and browsers
    would normalise `./`, `../` and some escapes before sending), on one kept-alive
    connection per host."""

    def __init__(self, timeout: float = 15) -> None:
        self.timeout = timeout
        self.conns: dict[str, http.client.HTTPConnection] = {}

    def get(self, url: str, headers: dict[str, str] | None = None) -> RawReply:
        rest = url.removeprefix("http://")
        hostport, _, target = rest.partition("/")
        for attempt in (0, 1):
            conn = self.conns.get(hostport)
            if conn is None:
                host, _, port = hostport.partition(":")
                conn = self.conns[hostport] = http.client.HTTPConnection(
                    host, int(port), timeout=self.timeout)
            try:
                conn.putrequest("GET", "/" + target, skip_accept_encoding=True)
                conn.putheader("Accept-Encoding", "gzip")
                for name, value in (headers or {}).items():
                    conn.putheader(name, value)
                conn.endheaders()
                res = conn.getresponse()
                body = res.read()
                if res.getheader("connection", "").lower() == "close":
                    conn.close()
                    del self.conns[hostport]
                return RawReply(res.status, {k.lower(): v for k, v in res.getheaders()}, body)
            except (http.client.HTTPException, OSError):
                conn.close()
                self.conns.pop(hostport, None)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        for conn in self.conns.values():
            conn.close()
