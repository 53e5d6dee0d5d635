"""Answers for immutable bytes with Range and conditional requests: from memory or a file.

Edge, thin over `townhall.delivery.ranges` (which decides status, headers and the slice).
Every replay byte route (`/replay/ID.m4a`, clips, `init.mp4`, segments, the playlist)
answers through `ranged_bytes` or `ranged_file`, never with a response of its own. A file is
read in chunks in a thread, only the slice asked for: a seek in an hour's replay never reads
the hour.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from townhall.delivery.ranges import Answer, answer

CHUNK = 256 * 1024


def strong_etag(data: bytes) -> str:
    """A strong ETag for these exact bytes (128 bits of their SHA-256)."""
    return f'"{hashlib.sha256(data).hexdigest()[:32]}"'


def hex_etag(sha256_hex: str, suffix: str = "") -> str:
    """A strong ETag from a SHA-256 already known (the recording manifest's)."""
    return f'"{sha256_hex[:32]}{suffix}"'


def _headers(decision: Answer, media_type: str, extra: dict[str, str]) -> dict[str, str]:
    headers = dict(extra)
    headers.update(decision.headers)
    if decision.status in (304, 412, 416):
        headers.pop("Content-Disposition", None)
        headers.pop("Content-Encoding", None)
        if decision.status == 304:
            return headers  # §15.4.5: the validator and Cache-Control, no content headers
        # an answer to one request's preconditions or range, not the representation:
        # no cache may keep it under the URL
        headers["Cache-Control"] = "no-store"
    else:
        headers["Content-Type"] = media_type
    headers["Content-Length"] = str(decision.length)
    return headers


def ranged_bytes(request: Request, data: bytes, etag: str, media_type: str,
                 headers: dict[str, str]) -> Response:
    decision = answer(request.method, request.headers, len(data), etag)
    body = data[decision.start:decision.stop] if request.method != "HEAD" else b""
    response = Response(body, status_code=decision.status)
    response.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1"))
                            for k, v in _headers(decision, media_type, headers).items()]
    return response


def _read(path: Path, offset: int, length: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(length)


class _FileSlice(Response):
    """path[start:stop] in chunks, each read in a thread."""

    def __init__(self, path: Path, decision: Answer, headers: dict[str, str],
                 head: bool) -> None:
        super().__init__(status_code=decision.status)
        self.path, self.decision, self.head = path, decision, head
        self.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1"))
                            for k, v in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})
        at, stop = self.decision.start, self.decision.stop
        if self.head:
            at = stop
        while at < stop:
            chunk = await asyncio.to_thread(_read, self.path, at, min(CHUNK, stop - at))
            if not chunk:
                raise OSError(f"{self.path} shrank while it was being sent")
            at += len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": at < stop})
        if self.head or self.decision.length == 0:
            await send({"type": "http.response.body", "body": b""})


def ranged_file(request: Request, path: Path, size: int, etag: str, media_type: str,
                headers: dict[str, str]) -> Response:
    decision = answer(request.method, request.headers, size, etag)
    return _FileSlice(path, decision, _headers(decision, media_type, headers),
                      request.method == "HEAD")
