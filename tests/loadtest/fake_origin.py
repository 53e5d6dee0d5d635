"""A tiny HTTP/1.1 server on loopback for the load generator's socket tests."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class FakeOrigin:
    """Answers by path: /peer (JSON with the client address), /chunked, /hang (never),
    /bye (answers, then closes without saying so), a path (without its query) found in
    `routes`, anything else 404. Records peers and paths."""

    server: asyncio.Server | None = None
    port: int = 0
    connections: int = 0
    peers: Counter[str] = field(default_factory=Counter)
    paths: list[str] = field(default_factory=list)
    writers: set[asyncio.StreamWriter] = field(default_factory=set)
    routes: dict[str, bytes] = field(default_factory=dict)  # path -> 200 body
    # path -> answers given in turn (the last one repeats): (status, body, headers)
    scripts: dict[str, list[tuple[int, bytes, dict[str, str]]]] = field(default_factory=dict)
    bodies: list[tuple[str, bytes]] = field(default_factory=list)  # (path, request body)

    async def start(self) -> FakeOrigin:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in list(self.writers):
            w.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.add(writer)
        peer = writer.get_extra_info("peername")[0]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                path = lines[0].split(" ")[1]
                length = next((int(ln.split(":")[1]) for ln in lines
                               if ln.lower().startswith("content-length:")), 0)
                body_in = await reader.readexactly(length) if length else b""
                self.peers[peer] += 1
                self.paths.append(path)
                self.bodies.append((path, body_in))
                if path == "/hang":
                    await asyncio.sleep(3600)
                if path == "/chunked":
                    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
                    continue
                status, body = (200, json.dumps({"peer": peer}).encode()) if path in (
                    "/peer", "/bye") else (404, b'{"error":"not_found"}')
                extra: dict[str, str] = {}
                bare = path.split("?", 1)[0]
                if bare in self.routes:
                    status, body = 200, self.routes[bare]
                if bare in self.scripts:
                    turns = self.scripts[bare]
                    status, body, extra = turns.pop(0) if len(turns) > 1 else turns[0]
                extra_lines = "".join(f"{k}: {v}\r\n" for k, v in extra.items())
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{extra_lines}"
                             f"Content-Type: application/json\r\n\r\n".encode() + body)
                await writer.drain()
                if path == "/bye":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()
