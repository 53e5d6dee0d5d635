"""HTTP/1.1 on the wire for the load generator: request bytes out, responses parsed from bytes.

Sans-IO (h11's shape, far smaller): `request_bytes` renders a request (its constant header
lines rendered once by `header_block`, requests are hot); `ResponseParser` is fed
whatever the socket delivered and returns every response completed by it, handling
Content-Length, chunked transfer coding (rfc9112 §7.1) and bodies delimited by the close.
Limits on head and body size make a hostile or broken server an error, not unbounded memory.
Never opens a socket and never looks at the clock.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024
_NO_BODY_STATUSES = (204, 304)
GUNZIP_MEMO = 512  # gzipped bodies kept decoded: thousands of listeners get the same playlist
GUNZIP_MEMO_MAX_BYTES = 64 * 1024  # larger decoded bodies are not kept
_gunzipped: dict[bytes, bytes] = {}


class ProtocolError(ValueError):
    """The server's bytes are not an HTTP/1.1 response we can read."""


class Response:
    """One response (a plain slotted class: thousands are made a second)."""

    __slots__ = ("body", "headers", "status", "wire_size")

    def __init__(self, status: int, headers: dict[str, str], body: bytes,
                 wire_size: int = 0) -> None:
        self.status = status
        self.headers = headers  # lower-case names; repeated headers joined with ", "
        self.body = body  # decoded: a gzip-encoded body is decompressed
        self.wire_size = wire_size  # bytes as received: head and (encoded) body

    def __repr__(self) -> str:
        return f"Response({self.status}, {len(self.body)} bytes)"

    @property
    def keep_alive(self) -> bool:
        return "close" not in self.headers.get("connection", "").lower()

    def json(self) -> Any:
        return json.loads(self.body)

    def retry_after(self) -> float | None:
        """Retry-After in seconds (delta form only; dates are not expected from the origin)."""
        value = self.headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            return None


def header_block(host: str, headers: dict[str, str] | None = None) -> str:
    """The header lines every request of a connection carries (rendered once per client)."""
    lines = {"Host": host, **(headers or {})}
    for k, v in lines.items():
        if not k or any(c in k for c in "\r\n: ") or "\r" in v or "\n" in v:
            raise ValueError(f"bad header {k!r}")
    return "".join(f"{k}: {v}\r\n" for k, v in lines.items())


def request_bytes(method: str, path: str, block: str, body: bytes | None = None) -> bytes:
    """One keep-alive request: `block` from header_block(); a body is sent as JSON."""
    if path[:1] != "/" or " " in path or "\r" in path or "\n" in path:
        raise ValueError(f"bad request path {path!r}")
    if body is None:
        return f"{method} {path} HTTP/1.1\r\n{block}\r\n".encode("latin-1")
    return (f"{method} {path} HTTP/1.1\r\n{block}Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1") + body


def _parse_head(raw: bytes) -> tuple[int, dict[str, str]]:
    status_line, _, rest = raw.decode("latin-1").partition("\r\n")
    if not status_line.startswith("HTTP/1.") or status_line[8:9] != " ":
        raise ProtocolError(f"bad status line {status_line[:80]!r}")
    code = status_line[9:12]
    if not code.isdigit() or status_line[12:13] not in ("", " "):
        raise ProtocolError(f"bad status code in {status_line[:80]!r}")
    headers: dict[str, str] = {}
    for line in rest.split("\r\n") if rest else ():
        name, sep, value = line.partition(":")
        if not sep or not name or name[-1] in " \t":
            raise ProtocolError(f"bad header line {line[:80]!r}")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return int(code), headers


class ResponseParser:
    """Feed bytes, get complete responses. One parser per connection, responses in order."""

    def __init__(self, max_head: int = MAX_HEAD_BYTES, max_body: int = MAX_BODY_BYTES) -> None:
        self.max_head = max_head
        self.max_body = max_body
        self._buf = bytearray()
        self._status = 0
        self._headers: dict[str, str] = {}
        self._mode = "head"  # head | length | chunk_size | chunk_data | trailers | until_close
        self._need = 0  # bytes left of the body or of the current chunk (+ its CRLF)
        self._body = bytearray()
        self._head_size = 0

    @property
    def idle(self) -> bool:
        """True between responses with nothing buffered (a connection safe to reuse)."""
        return self._mode == "head" and not self._buf

    def feed(self, data: bytes) -> list[Response]:
        self._buf += data
        out: list[Response] = []
        while True:
            done = self._step()
            if done is None:
                return out
            out.append(done)

    def feed_eof(self) -> Response | None:
        """The server closed: completes a close-delimited body; a cut-off one is an error."""
        if self._mode == "until_close":
            self._body += self._buf
            self._buf.clear()
            return self._finish()
        if self._mode != "head" or self._buf:
            raise ProtocolError("connection closed in the middle of a response")
        return None

    def _finish(self, whole: bytes | None = None) -> Response:
        body = bytes(self._body) if whole is None else whole
        wire = self._head_size + len(body)
        if self._headers.get("content-encoding", "").strip().lower() == "gzip":
            body = self._gunzip(body)
        resp = Response(self._status, self._headers, body, wire)
        self._mode, self._body, self._headers = "head", bytearray(), {}
        return resp

    def _gunzip(self, data: bytes) -> bytes:
        """Decompressed once per distinct body (an edge hands thousands the same bytes)."""
        out = _gunzipped.get(data)
        if out is not None and len(out) > self.max_body:
            raise ProtocolError(f"decompressed body over {self.max_body} bytes")
        if out is None:
            out = self._gunzip_new(data)
            if len(out) <= GUNZIP_MEMO_MAX_BYTES:
                if len(_gunzipped) >= GUNZIP_MEMO:
                    _gunzipped.clear()
                _gunzipped[data] = out
        return out

    def _gunzip_new(self, data: bytes) -> bytes:
        d = zlib.decompressobj(wbits=31)
        try:
            out = d.decompress(data, self.max_body + 1)
        except zlib.error as exc:
            raise ProtocolError(f"bad gzip body: {exc}") from None
        if len(out) > self.max_body:
            raise ProtocolError(f"decompressed body over {self.max_body} bytes")
        return out

    def _grow_body(self, chunk: bytes | bytearray) -> None:
        self._body += chunk
        if len(self._body) > self.max_body:
            raise ProtocolError(f"response body over {self.max_body} bytes")

    def _step(self) -> Response | None:
        """Advance through the buffer; a completed response, or None when more is needed."""
        buf = self._buf
        while True:
            if self._mode == "head":
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > self.max_head:
                        raise ProtocolError(f"response head over {self.max_head} bytes")
                    return None
                status, headers = _parse_head(bytes(buf[:end]))
                del buf[:end + 4]
                self._head_size = end + 4
                if 100 <= status < 200:
                    continue  # interim response (100 Continue): skip it
                self._status, self._headers = status, headers
                if status in _NO_BODY_STATUSES:
                    return self._finish()
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    self._mode = "chunk_size"
                elif "content-length" in headers:
                    self._mode, self._need = "length", self._content_length(headers)
                else:
                    self._mode = "until_close"  # rfc9112 §6.3: read until the server closes
            elif self._mode == "length":
                if not self._body and len(buf) >= self._need:  # the usual case: all here
                    whole = bytes(buf[:self._need])
                    del buf[:self._need]
                    return self._finish(whole)
                take = min(self._need, len(buf))
                self._body += buf[:take]
                del buf[:take]
                self._need -= take
                return self._finish() if self._need == 0 else None
            elif self._mode == "chunk_size":
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) > 1024:
                        raise ProtocolError("chunk size line too long")
                    return None
                size_text = bytes(buf[:end]).split(b";", 1)[0].strip()
                del buf[:end + 2]
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise ProtocolError(f"bad chunk size {size_text[:20]!r}") from None
                if size < 0:
                    raise ProtocolError("negative chunk size")
                self._mode, self._need = ("trailers", 0) if size == 0 else ("chunk_data",
                                                                             size + 2)
            elif self._mode == "chunk_data":
                if len(buf) < self._need:
                    return None
                if buf[self._need - 2:self._need] != b"\r\n":
                    raise ProtocolError("chunk data not followed by CRLF")
                self._grow_body(buf[:self._need - 2])
                del buf[:self._need]
                self._mode = "chunk_size"
            elif self._mode == "trailers":
                end = buf.find(b"\r\n")
                if end < 0:
                    return None
                del buf[:end + 2]
                if end == 0:
                    return self._finish()
            else:  # until_close: keep everything; feed_eof completes the response
                self._grow_body(buf)
                buf.clear()
                return None

    def _content_length(self, headers: dict[str, str]) -> int:
        try:
            need = int(headers["content-length"])
        except ValueError:
            raise ProtocolError("bad Content-Length") from None
        if need < 0 or need > self.max_body:
            raise ProtocolError(f"Content-Length {need} out of bounds")
        return need
