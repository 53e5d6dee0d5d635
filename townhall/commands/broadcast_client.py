"""`townhall broadcast`: push any audio file into a space, paced in real time.

Decodes the file with PyAV, re-encodes ADTS AAC, and PUTs it chunked to the ingest URL at
the pace of the audio (a small lead keeps the server's jitter buffer fed), as a live source
would. For demos, tests and benchmarks. `broadcast` retries a dropped connection, a server
error or a takeover by another source with backoff, from where the file had got to; an ended
space, a rotated or wrong key, undecodable audio and any other final refusal (`final`: a
4xx other than 408/429 and a takeover) end it, and the CLI says why in one line. (The ingest
port sends its refusals before it half-closes and drains, so a pushing client reads them.)
Given the space and its host key (`broadcast_to_space`), it asks the server (an edge: any
origin) for the ingest URL and, when the connection breaks (the origin died), asks again and
goes on pushing where it was, to whichever origin answers.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import urlsplit

import av
import httpx

LEAD_S = 0.25  # how far ahead of real time bytes may be sent
RETRY_FIRST_S, RETRY_MAX_S, MAX_RETRIES = 0.5, 8.0, 8  # reconnect backoff
FINAL = {"space_ended", "key_rotated", "bad_host_key", "undecodable_audio", "empty_body",
         "space_not_found", "key_revoked", "owner_key_required", "bad_request"}
# refusals worth trying again (with backoff): shedding, a full origin, an idle timeout, a
# takeover by another source (it may leave); any other 4xx is final
RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}
RETRYABLE_ERRORS = {"taken_over", "origin_full", "origin_busy", "overloaded", "evicted",
                    "program_moved", "store_unavailable", "relay_failed", "source_idle"}
RECONNECT_FOR_S = 60.0  # a source whose server stays away longer than this gives up


def ingest_http_url(ingest_url: str) -> tuple[str, str]:
    """icecast://source:KEY@host:port/path -> (http://host:port/path, KEY)."""
    parts = urlsplit(ingest_url)
    if parts.scheme not in ("icecast", "http") or not parts.hostname or not parts.password:
        raise ValueError(f"not an ingest URL with a key: {ingest_url!r}")
    return f"http://{parts.hostname}:{parts.port or 80}{parts.path}", parts.password


async def adts_chunks(path: Path, *, loop_forever: bool = False,
                      on_chunk: Callable[[float], None] | None = None,
                      skip_s: float = 0.0) -> AsyncIterator[bytes]:
    """ADTS bytes of `path` from `skip_s` on, yielded no faster than real time (+ LEAD_S)."""
    sink = io.BytesIO()
    start = time.monotonic() - skip_s
    sent_s = 0.0
    while True:
        with av.open(str(path)) as src:
            if not src.streams.audio:
                raise ValueError(f"{path} has no audio track")
            out = av.open(sink, "w", format="adts")
            stream = out.add_stream("aac", rate=48000, layout="mono")
            stream.bit_rate = 128000
            resampler = av.AudioResampler(format="fltp", layout="mono", rate=48000)
            frames = src.decode(audio=0)
            for frame in frames:
                for rf in resampler.resample(frame):
                    for pkt in stream.encode(rf):
                        out.mux(pkt)
                    sent_s += rf.samples / 48000
                data = sink.getvalue()
                if data and sent_s < skip_s:  # already sent before a reconnect
                    sink.seek(0)
                    sink.truncate()
                    continue
                if data:
                    sink.seek(0)
                    sink.truncate()
                    ahead = start + sent_s - LEAD_S - time.monotonic()
                    if ahead > 0:
                        await asyncio.sleep(ahead)
                    if on_chunk is not None:
                        on_chunk(sent_s)
                    yield data
            for pkt in stream.encode(None):
                out.mux(pkt)
            out.close()
            tail = sink.getvalue()
            sink.seek(0)
            sink.truncate()
            if tail:
                yield tail
        if not loop_forever:
            return


async def broadcast(path: Path, ingest_url: str, *, loop_forever: bool = False,
                    log: Callable[[str], None] | None = None) -> dict[str, object]:
    url, key = ingest_http_url(ingest_url)
    position = {"s": 0.0}
    delay, reconnects = RETRY_FIRST_S, 0
    body: dict[str, object] = {}
    while True:
        chunks = adts_chunks(path, loop_forever=loop_forever, skip_s=position["s"],
                             on_chunk=lambda t: position.__setitem__("s", t))
        body = await push(url, key, chunks)
        if final(body) or reconnects >= MAX_RETRIES:
            body["reconnects"] = reconnects
            return body
        reconnects += 1
        if log is not None:
            log(f"broadcast: {body.get('error') or body.get('status_code')}; reconnecting in "
                f"{delay:g} s from {position['s']:.1f} s")
        await asyncio.sleep(delay)
        delay = min(delay * 2, RETRY_MAX_S)


def final(body: dict[str, object]) -> bool:
    """Whether an answer ends the broadcast: done (200) or a refusal that retrying cannot
    change (a wrong or rotated key, an ended space, undecodable audio: 401/403/404/409/415)."""
    status, error = body.get("status_code"), body.get("error")
    if status == 200 or error in FINAL:
        return True
    if error in RETRYABLE_ERRORS or status in RETRYABLE_STATUS or status == 0:
        return False
    return isinstance(status, int) and 400 <= status < 500


def refusal_line(body: dict[str, object]) -> str | None:
    """One line for a final refusal (None for success)."""
    if body.get("status_code") == 200:
        return None
    return (f"broadcast: refused ({body.get('status_code')} {body.get('error') or ''}): "
            f"{body.get('detail') or body.get('text') or 'no detail'}").replace("\n", " ")


async def push(url: str, key: str, chunks: AsyncIterator[bytes],
               connect_timeout_s: float = 30.0) -> dict[str, object]:
    """PUT `chunks` chunked to `url` (http://host:port/path) as `source:key`, reading the
    answer *while* sending: a server that refuses mid-push (key rotated, origin full) is heard
    at once, and the push stops (a client that only reads after its upload ends loses such an
    answer to the reset that follows). Returns the answer's status and JSON body; status 0
    with error `connection_lost` when the connection broke without an answer."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    auth = base64.b64encode(f"source:{key}".encode()).decode()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port),
                                                connect_timeout_s)
    except (OSError, TimeoutError) as exc:
        return {"status_code": 0, "error": "connection_lost", "detail": str(exc) or "refused"}
    writer.write(f"PUT {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: "
                 f"Basic {auth}\r\nContent-Type: audio/aac\r\nTransfer-Encoding: chunked"
                 "\r\n\r\n".encode())

    answered = asyncio.Event()
    in_chunks = [False]  # the sender is inside `chunks`: never cancelled there, or a shared
    # generator (broadcast_to_space goes on with it on the next connection) would be closed

    async def send() -> None:
        iterator = chunks.__aiter__()
        while True:
            in_chunks[0] = True
            try:
                data = await iterator.__anext__()
            except StopAsyncIteration:
                break
            finally:
                in_chunks[0] = False
            if answered.is_set():
                return
            writer.write(b"%x\r\n%s\r\n" % (len(data), data))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    sender = asyncio.create_task(send())
    answer = asyncio.create_task(_read_answer(reader))
    try:
        await asyncio.wait({sender, answer}, return_when=asyncio.FIRST_COMPLETED)
        problem = sender.exception() if sender.done() and not answer.done() else None
        if problem is not None and not isinstance(problem, OSError):
            raise problem  # the file, not the connection (no audio track...)
        try:
            return await answer
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            return {"status_code": 0, "error": "connection_lost",
                    "detail": str(exc) or "reset"}
    finally:
        answered.set()
        if not (in_chunks[0] and not sender.done()):
            sender.cancel()  # in a write, not in the generator: safe to cancel
        answer.cancel()
        for task in (sender, answer):
            with contextlib.suppress(BaseException):
                await task
        writer.close()


async def _read_answer(reader: asyncio.StreamReader) -> dict[str, object]:
    """The first final answer on the connection (a 100 Continue is skipped)."""
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        if status != 100:
            break
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (line.partition(":") for line in lines[1:] if line)}
    length = int(headers.get("content-length", "0"))
    raw = await reader.readexactly(length) if length else b""
    body: dict[str, object] = {"status_code": status}
    try:
        loaded = json.loads(raw) if raw else {}
        body.update(loaded if isinstance(loaded, dict) else {"text": raw.decode()})
    except ValueError:
        body["text"] = raw.decode(errors="replace")
    return body


def _answer(res: httpx.Response) -> dict[str, object]:
    """The ingest's answer to a push: its status and JSON body (or text)."""
    body: dict[str, object] = {"status_code": res.status_code}
    try:
        body.update(res.json())
    except ValueError:
        body["text"] = res.text
    return body


async def _ingest_url(client: httpx.AsyncClient, server: str, space: str, key: str) -> str:
    res = await client.get(f"{server}/api/spaces/{space}/host",
                           headers={"Authorization": f"Bearer {key}"})
    if res.status_code != 200:
        raise httpx.HTTPStatusError(f"{res.status_code} {res.text}", request=res.request,
                                    response=res)
    return str(res.json()["ingest_url"])


async def broadcast_to_space(path: Path, server: str, space: str, key: str, *,
                             loop_forever: bool = False,
                             reconnect_for_s: float = RECONNECT_FOR_S,
                             log: Callable[[str], None] | None = None) -> dict[str, object]:
    """Push `path` into a space through `server`, reconnecting (to any origin) when the
    connection breaks (at once: an origin died, another takes over) or the server refuses
    for a while (taken over by another source, shedding: with backoff); the audio goes on
    from where it was. An ended space, a rotated or wrong key and undecodable audio end it."""
    chunks = adts_chunks(path, loop_forever=loop_forever).__aiter__()
    exhausted = False

    async def rest() -> AsyncIterator[bytes]:
        nonlocal exhausted
        async for chunk in chunks:
            yield chunk
        exhausted = True

    reconnects, refusals, delay = 0, 0, RETRY_FIRST_S
    server = server.rstrip("/")
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None)) as client:
        down_since: float | None = None
        while True:
            body: dict[str, object] | None = None
            try:
                url, secret = ingest_http_url(await _ingest_url(client, server, space, key))
                body = await push(url, secret, rest(), 10.0)
                if body["status_code"] == 0:
                    body = None  # the connection broke: ask again where to push
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code in (401, 403, 404, 409):
                    return {"status_code": exc.response.status_code, "reconnects": reconnects,
                            "text": exc.response.text}
            except httpx.HTTPError:
                pass
            if body is not None:
                if exhausted or final(body) or refusals >= MAX_RETRIES:
                    body["reconnects"] = reconnects
                    return body
                if body["status_code"] != 200:  # taken over, shedding: back off
                    refusals += 1
                    if log is not None:
                        log(f"broadcast: {body.get('error') or body['status_code']}; "
                            f"reconnecting in {delay:g} s")
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX_S)
                down_since = None
            else:
                now = time.monotonic()
                down_since = down_since if down_since is not None else now
                if now - down_since > reconnect_for_s:
                    return {"status_code": 503, "reconnects": reconnects,
                            "text": "the server stayed away"}
                if log is not None and reconnects == 0:
                    log("broadcast: connection lost; reconnecting to any origin")
                await asyncio.sleep(0.2)
            reconnects += 1
