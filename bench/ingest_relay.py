"""What the source relay (townhall.ingest.relay) costs per source: CPU of the relaying
process, and the latency it adds between a source's byte and the edge receiving it.

One machine, loopback. N Icecast-style sources (a PUT with neither length nor chunking, a
64 kb/s stream sent as 20 ms blocks of 160 bytes, each stamped with the monotonic clock)
push to a real `IngestServer` whose relay is on, in a child process; it relays them as
chunked PUTs to a stand-in edge in this process, which reads the stamps on arrival. The same
sources pushed straight to the stand-in give the baseline latency (a source's own hop).
CPU is the child's utime + stime (/proc) over the run, per source. nginx's hop (one more
proxied stream, unbuffered) is not in these numbers. Every loop is bounded in time.
Run: .venv/bin/python bench/ingest_relay.py [--sources 20] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BLOCK = 160  # 20 ms of a 64 kb/s stream
STAMP = struct.Struct("!d")
PREFLIGHT = b'{"error":"empty_body","detail":"no audio bytes were pushed"}'


async def edge(latencies: list[float]) -> asyncio.Server:
    """A stand-in edge: answers the preflight, then reads each push's stamped blocks."""
    from townhall.ingest.http1 import ChunkedDecoder

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            if b"Content-Length: 0" in head:  # the relay's preflight
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: "
                             + str(len(PREFLIGHT)).encode() + b"\r\n\r\n" + PREFLIGHT)
                head = await reader.readuntil(b"\r\n\r\n")
            chunked = ChunkedDecoder() if b"chunked" in head else None
            pending = b""
            while data := await reader.read(65536):
                pending += chunked.feed(data) if chunked else data
                now = time.monotonic()
                while len(pending) >= BLOCK:
                    latencies.append(now - STAMP.unpack(pending[:STAMP.size])[0])
                    pending = pending[BLOCK:]
                if chunked is not None and chunked.done:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                    await writer.drain()
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


async def source(port: int, space: str, seconds: float) -> None:
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"PUT /ingest/{space} HTTP/1.1\r\nAuthorization: Basic c291cmNlOms=\r\n"
                 "Content-Type: audio/aac\r\n\r\n".encode())
    start = time.monotonic()
    n = 0
    while (now := time.monotonic()) - start < seconds:
        writer.write(STAMP.pack(now) + bytes(BLOCK - STAMP.size))
        await writer.drain()
        n += 1
        await asyncio.sleep(max(0.0, start + n * 0.02 - time.monotonic()))
    writer.close()


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(port: int, sources: int, seconds: float) -> None:
    await asyncio.gather(*(source(port, f"space{i:05d}", seconds) for i in range(sources)))
    await asyncio.sleep(0.5)  # the last blocks arrive


def relay_child(upstream: int, ready: Path) -> None:
    """The child: a real IngestServer of a clustered origin, relaying to `upstream`."""
    from typing import cast

    from townhall.ingest.icecast import IngestServer
    from townhall.live.sources.push_sources import PushSources
    from townhall.settings import Settings

    async def main() -> None:
        settings = Settings.of(data_dir=ready.parent, ingest_port=0, edge_secret="bench",
                            redis_url="redis://127.0.0.1:1/0",  # clustered; never dialled
                            ingest_public_url=f"http://127.0.0.1:{upstream}")
        server = IngestServer(settings, cast(PushSources, None))  # relaying needs no space
        await server.start()
        ready.write_text(str(server.port))
        await asyncio.sleep(3600)

    asyncio.run(main())


async def measure(sources: int, seconds: float) -> dict[str, Any]:
    base: list[float] = []
    relayed: list[float] = []
    direct_edge = await edge(base)
    await run(direct_edge.sockets[0].getsockname()[1], sources, seconds)
    direct_edge.close()
    relay_edge = await edge(relayed)
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "port"
        child = subprocess.Popen([sys.executable, __file__, "--child",
                                  str(relay_edge.sockets[0].getsockname()[1]), str(ready)])
        try:
            deadline = time.monotonic() + 30
            while not ready.exists() or not ready.read_text():
                assert time.monotonic() < deadline and child.poll() is None, "no relay"
                await asyncio.sleep(0.05)
            before = cpu_s(child.pid)
            await run(int(ready.read_text()), sources, seconds)
            used = cpu_s(child.pid) - before
        finally:
            child.kill()
            child.wait()
    relay_edge.close()

    def ms(values: list[float], q: float) -> float:
        return round(statistics.quantiles(values, n=100)[int(q) - 1] * 1000, 3)

    return {"sources": sources, "seconds": seconds,
            "relay_cpu_percent_per_source": round(100 * used / (seconds + 0.5) / sources, 3),
            "blocks": [len(base), len(relayed)],
            "direct_ms": {"p50": ms(base, 50), "p99": ms(base, 99)},
            "relayed_ms": {"p50": ms(relayed, 50), "p99": ms(relayed, 99)}}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        relay_child(int(sys.argv[2]), Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sources", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(min(args.sources, 200), min(args.seconds, 60))),
                     indent=2))


if __name__ == "__main__":
    main()
