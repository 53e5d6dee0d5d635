"""The source relay against a stand-in edge (an asyncio server on loopback): the preflight's
refusal and the edge's mid-body answer reach the client, an unreachable edge is a clear 503,
the client is read no faster than the edge takes the bytes, and the body arrives unchanged."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import cast

from harness.server import free_port
from townhall.ingest.http1 import ChunkedDecoder
from townhall.ingest.icecast import IngestServer
from townhall.ingest.relay import RELAY_HEADER, SourceRelay, relay_token
from townhall.live.sources.push_sources import PushSources
from townhall.settings import Settings

Upstream = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
PREFLIGHT_OK = json.dumps({"error": "empty_body", "detail": "no audio bytes were pushed"})


def answer(status: int, payload: dict[str, object]) -> bytes:
    body = json.dumps(payload).encode()
    return (f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: "
            f"{len(body)}\r\n\r\n").encode() + body


def relay_to(port: int, tmp: Path) -> SourceRelay:
    settings = Settings.of(data_dir=tmp, redis_url="redis://127.0.0.1:1/0", edge_secret="s3cret",
                        ingest_public_url=f"http://127.0.0.1:{port}",
                        ingest_relay_connect_timeout_s=1.0, ingest_relay_buffer_bytes=16384)
    relay = SourceRelay.from_settings(settings)
    assert relay is not None
    return relay


async def head_of(reader: asyncio.StreamReader) -> dict[str, str]:
    raw = (await reader.readuntil(b"\r\n\r\n")).decode()
    lines = raw.split("\r\n")
    return {"line": lines[0], **{k.lower(): v.strip() for k, _, v in
                                 (x.partition(":") for x in lines[1:] if x)}}


async def with_upstream(handler: Upstream, test: Callable[[int], Awaitable[None]]) -> None:
    """Run `test` against a stand-in edge on a free port; every connection closed after."""
    tasks: list[asyncio.Task[None]] = []
    writers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        task = asyncio.current_task()
        assert task is not None
        tasks.append(task)
        await handler(reader, writer)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        await test(int(server.sockets[0].getsockname()[1]))
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for writer in writers:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        await server.wait_closed()


async def tone_bytes(total: int, counted: list[int]) -> AsyncIterator[bytes]:
    block = bytes(range(256)) * 64
    sent = 0
    while sent < total:
        counted[0] += len(block)
        sent += len(block)
        yield block


async def nothing() -> None:
    return None


def test_the_body_reaches_the_edge_unchanged_as_a_marked_chunked_put(tmp_path: Path) -> None:
    got: dict[str, object] = {}

    async def edge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got["preflight"] = await head_of(reader)
        writer.write(answer(400, json.loads(PREFLIGHT_OK)))
        got["push"] = head = await head_of(reader)
        assert head["transfer-encoding"] == "chunked"
        decoder, body = ChunkedDecoder(), b""
        while not decoder.done:
            body += decoder.feed(await reader.read(65536))
        got["body"] = body
        writer.write(answer(200, {"status": "ok", "bytes": len(body)}))
        await writer.drain()
        writer.close()

    async def test(port: int) -> None:
        relay = relay_to(port, tmp_path)
        counted = [0]
        status, payload = await relay.carry("space00001", "Basic abc",
                                            tone_bytes(1_000_000, counted), nothing)
        assert (status, payload["status"]) == (200, "ok")
        assert got["body"] == (bytes(range(256)) * 64) * (counted[0] // 16384)
        for name in ("preflight", "push"):
            head = got[name]
            assert isinstance(head, dict)
            assert head["line"] == "PUT /ingest/space00001 HTTP/1.1"
            assert head["authorization"] == "Basic abc"
            assert head[RELAY_HEADER] == relay_token("s3cret") == relay.token
        assert relay.proven({RELAY_HEADER: relay.token})
        assert not relay.proven({RELAY_HEADER: "guess"}) and not relay.proven({})

    asyncio.run(with_upstream(edge, test))


def test_a_refused_preflight_is_the_answer_and_the_client_is_never_told_to_send(
        tmp_path: Path) -> None:
    async def edge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await head_of(reader)
        writer.write(answer(401, {"error": "bad_host_key", "detail": "wrong key"}))
        await writer.drain()
        writer.close()

    async def test(port: int) -> None:
        told: list[bool] = []

        async def go_ahead() -> None:
            told.append(True)

        status, payload = await relay_to(port, tmp_path).carry(
            "space00001", "Basic bad", tone_bytes(10**6, [0]), go_ahead)
        assert (status, payload["error"]) == (401, "bad_host_key")
        assert not told

    asyncio.run(with_upstream(edge, test))


def test_an_unreachable_edge_is_a_503_relay_failed(tmp_path: Path) -> None:
    async def test() -> None:
        status, payload = await relay_to(free_port(), tmp_path).carry(
            "space00001", "Basic abc", tone_bytes(10, [0]), nothing)
        assert (status, payload["error"]) == (503, "relay_failed")
        assert "cannot be reached" in str(payload["detail"])

    asyncio.run(test())


def test_an_answer_mid_body_ends_the_relay_at_once(tmp_path: Path) -> None:
    async def edge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await head_of(reader)
        writer.write(answer(400, json.loads(PREFLIGHT_OK)))
        await head_of(reader)
        await reader.read(100_000)
        writer.write(answer(409, {"error": "taken_over", "detail": "a newer source"}))
        await writer.drain()
        await asyncio.sleep(5)  # the edge lingers; the relay must not wait for the close
        writer.close()

    async def test(port: int) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        status, payload = await relay_to(port, tmp_path).carry(
            "space00001", "Basic abc", tone_bytes(10**12, [0]), nothing)
        assert (status, payload["error"]) == (409, "taken_over")
        assert loop.time() - started < 3

    asyncio.run(with_upstream(edge, test))


def test_the_client_is_read_no_faster_than_the_edge_takes_the_bytes(tmp_path: Path) -> None:
    stalled = asyncio.Event()

    async def edge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await head_of(reader)
        writer.write(answer(400, json.loads(PREFLIGHT_OK)))
        await head_of(reader)
        await stalled.wait()  # reads nothing more: TCP fills, then the relay must wait
        writer.close()

    async def test(port: int) -> None:
        counted = [0]
        task = asyncio.ensure_future(relay_to(port, tmp_path).carry(
            "space00001", "Basic abc", tone_bytes(10**12, counted), nothing))
        await asyncio.sleep(1.0)
        after_1s = counted[0]
        await asyncio.sleep(1.0)
        assert counted[0] == after_1s, "the relay kept reading while the edge took nothing"
        assert after_1s < 64 * 1024 * 1024  # the socket buffers' worth, not the whole source
        stalled.set()
        status, payload = await asyncio.wait_for(task, 5)
        assert (status, payload["error"]) == (503, "relay_failed")  # closed without an answer

    asyncio.run(with_upstream(edge, test))


def test_a_space_id_that_cannot_exist_is_answered_here(tmp_path: Path) -> None:
    async def test() -> None:
        status, payload = await relay_to(free_port(), tmp_path).carry(
            "a b\r\nX: y", "Basic abc", tone_bytes(10, [0]), nothing)
        assert (status, payload["error"]) == (404, "space_not_found")

    asyncio.run(test())


def test_a_relay_url_that_is_not_http_leaves_sources_to_the_ingest_port(tmp_path: Path) -> None:
    settings = Settings.of(data_dir=tmp_path, redis_url="redis://127.0.0.1:1/0",
                        ingest_public_url="icecast://edge:8000")
    assert SourceRelay.from_settings(settings) is None
    assert SourceRelay.from_settings(Settings.of(data_dir=tmp_path,
                                              ingest_public_url="http://edge")) is None


def relaying_ingest(port: int, tmp: Path) -> IngestServer:
    """A clustered origin's ingest port, relaying to the stand-in edge on `port` (relaying
    asks nothing of the spaces)."""
    settings = Settings.of(data_dir=tmp, ingest_port=0, redis_url="redis://127.0.0.1:1/0",
                        edge_secret="s3cret", ingest_public_url=f"http://127.0.0.1:{port}")
    return IngestServer(settings, cast(PushSources, None))


def test_icecast_clients_are_told_to_send_once_the_edge_accepts_and_get_its_answer(
        tmp_path: Path) -> None:
    bodies: list[bytes] = []

    async def edge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await head_of(reader)
        writer.write(answer(400, json.loads(PREFLIGHT_OK)))
        await head_of(reader)
        decoder, body = ChunkedDecoder(), b""
        while not decoder.done and (data := await reader.read(65536)):
            body += decoder.feed(data)
        bodies.append(body)
        writer.write(answer(200, {"status": "ok", "bytes": len(body)}))
        await writer.drain()
        writer.close()

    async def client(port: int, head: str, expect: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head.encode())
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(expect)  # told to send
        writer.write(b"audio" * 1000)
        await writer.drain()
        writer.write_eof()  # Icecast style: the body runs until the close
        rest = await reader.read()
        writer.close()
        return rest

    async def test(port: int) -> None:
        ingest = relaying_ingest(port, tmp_path)
        await ingest.start()
        try:
            rest = await client(ingest.port, "SOURCE /ingest/space00001 ICE/1.0\r\n"
                                "Authorization: Basic c291cmNlOms=\r\n\r\n", b"HTTP/1.0 200 OK")
            assert rest == b""  # legacy Icecast: told OK first, nothing after
            rest = await client(ingest.port, "PUT /ingest/space00001 HTTP/1.1\r\n"
                                "Authorization: Basic c291cmNlOms=\r\nExpect: 100-continue\r\n"
                                "\r\n", b"HTTP/1.1 100 Continue")
            assert rest.startswith(b"HTTP/1.1 200 OK") and b'"bytes": 5000' in rest, rest
            assert bodies == [b"audio" * 1000] * 2
        finally:
            await ingest.close()

    asyncio.run(with_upstream(edge, test))
