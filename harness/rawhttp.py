"""A tiny one-shot HTTP/1.1 client for tests that need many source addresses cheaply."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def request(method: str, host: str, port: int, path: str, *, source: str | None = None,
                  body: Any = None, timeout: float = 20.0) -> Reply:
    """One request on its own connection (Connection: close), from `source` if given."""
    payload = b"" if body is None else json.dumps(body).encode()
    head = (f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n")

    async def go() -> Reply:
        reader, writer = await asyncio.open_connection(
            host, port, local_addr=(source, 0) if source else None)
        try:
            writer.write(head.encode() + payload)
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
        head_raw, _, rest = raw.partition(b"\r\n\r\n")
        lines = head_raw.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        if headers.get("transfer-encoding") == "chunked":
            out, data = b"", rest
            while data:
                size_line, _, data = data.partition(b"\r\n")
                size = int(size_line.split(b";")[0] or b"0", 16)
                if size == 0:
                    break
                out, data = out + data[:size], data[size + 2:]
            rest = out
        return Reply(int(lines[0].split(" ")[1]), headers, rest)

    return await asyncio.wait_for(go(), timeout)


async def poll_details(port: int, space_id: str, seconds: float, pollers: int,
                       network: int = 21) -> list[int]:
    """Legitimate pages polling a space's details every second, each from its own address
    127.<network>.x.y; returns every status seen (0 for a timeout or a refused connection)."""
    statuses: list[int] = []

    async def one(i: int) -> None:
        end = asyncio.get_running_loop().time() + seconds
        while asyncio.get_running_loop().time() < end:
            try:
                r = await request("GET", "127.0.0.1", port, f"/api/spaces/{space_id}",
                                  source=f"127.{network}.{i // 200}.{1 + i % 200}", timeout=5)
                statuses.append(r.status)
            except (TimeoutError, OSError):
                statuses.append(0)
            await asyncio.sleep(1.0)

    await asyncio.gather(*(one(i) for i in range(pollers)))
    return statuses
