"""`townhall broadcast`: push any audio file into a space, paced in real time.

Decodes the file with PyAV, re-encodes ADTS AAC, and PUTs it chunked to the ingest URL at
the pace of the audio (a small lead keeps the server's jitter buffer fed), as a live source
would. For demos, tests and benchmarks. `broadcast` retries a dropped connection, a server
error or a takeover by another source with backoff, from where the file had got to; an ended
space, a rotated or wrong key and undecodable audio end it. Given the space and its host key
(`broadcast_to_space`), it asks the server (an edge: any origin) for the ingest URL and, when
the connection breaks (the origin died), asks again and goes on pushing where it was, to
whichever origin answers.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import urlsplit

import av
import httpx

LEAD_S = 0.25  # how far ahead of real time bytes may be sent
RETRY_FIRST_S, RETRY_MAX_S, MAX_RETRIES = 0.5, 8.0, 8  # reconnect backoff
FINAL = {"space_ended", "key_rotated", "bad_host_key", "undecodable_audio", "empty_body",
         "space_not_found", "key_revoked"}
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
        try:
            async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None)) as client:
                res = await client.put(url, content=chunks, auth=("source", key),
                                       headers={"Content-Type": "audio/aac"})
            body = _answer(res)
        except httpx.HTTPError as exc:
            body = {"status_code": 0, "error": "connection_lost", "detail": str(exc)}
        done = body.get("status_code") == 200 or body.get("error") in FINAL
        if done or reconnects >= MAX_RETRIES:
            body["reconnects"] = reconnects
            return body
        reconnects += 1
        if log is not None:
            log(f"broadcast: {body.get('error') or body.get('status_code')}; reconnecting in "
                f"{delay:g} s from {position['s']:.1f} s")
        await asyncio.sleep(delay)
        delay = min(delay * 2, RETRY_MAX_S)


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
                res = await client.put(url, content=rest(), auth=("source", secret),
                                       headers={"Content-Type": "audio/aac"})
                body = _answer(res)
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code in (401, 403, 404, 409):
                    return {"status_code": exc.response.status_code, "reconnects": reconnects,
                            "text": exc.response.text}
            except httpx.HTTPError:
                pass
            if body is not None:
                done = exhausted or body.get("error") in FINAL or body["status_code"] in (
                    401, 403, 404)
                if done or refusals >= MAX_RETRIES:
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
