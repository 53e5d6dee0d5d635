"""Just enough HTTP/1.x for source clients, sans-IO: request heads and body framing.

Icecast sources (ffmpeg's icecast://, butt, OBS) send PUT or SOURCE with no Content-Length
and stream until they close; plain clients send chunked or sized bodies. ASGI servers cannot
take the first kind, hence this parser. Never does I/O; the ingest server feeds it bytes.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

HEAD_END = b"\r\n\r\n"
METHODS = {"PUT", "SOURCE", "POST"}
METADATA_PATH = "/admin/metadata"


def is_blank_line(line: bytes) -> bool:
    """The empty line that ends a request head, CRLF or bare LF (rfc9112 §2.2)."""
    return line in (b"\n", b"\r\n")


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class RequestHead:
    method: str
    target: str
    version: str
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ", "

    @classmethod
    def parse(cls, raw: bytes) -> RequestHead:
        try:
            text = raw.decode("latin-1")
        except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes everything
            raise HttpError(400, "request head is not text") from exc
        # rfc9112 §2.2: a recipient MAY take a bare LF as a line end (DarkIce sends them)
        lines = [line.removesuffix("\r") for line in text.split("\n")]
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith(("HTTP/1.", "ICE/1.")):
            raise HttpError(400, f"malformed request line {lines[0][:80]!r}")
        method, target, version = parts
        if method == "GET" and target.startswith(METADATA_PATH):
            pass  # Icecast's metadata update (liquidsoap, ices2, DarkIce send it)
        elif method not in METHODS:
            raise HttpError(405, f"method {method} not allowed: use PUT or SOURCE")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise HttpError(400, f"malformed header line {line[:80]!r}")
            key = name.lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return cls(method, target, version, headers)

    def credentials(self) -> tuple[str, str] | None:
        """(user, password) from Basic auth, or ("", token) from Bearer."""
        return credentials(self.headers.get("authorization", ""))

    def framing(self) -> str:
        """'chunked', 'length' or 'eof' (Icecast style: the body runs until the close)."""
        te = self.headers.get("transfer-encoding", "").lower()
        if te:
            if te != "chunked":
                raise HttpError(501, f"transfer-encoding {te!r} not supported")
            return "chunked"
        if "content-length" in self.headers:
            return "length"
        return "eof"

    def body(self) -> tuple[str, int | None]:
        """(framing, its Content-Length when the framing is 'length')."""
        framing = self.framing()
        return framing, self.content_length() if framing == "length" else None

    def content_length(self) -> int:
        value = self.headers["content-length"]
        # RFC 9112 §6.3: an invalid Content-Length is an unrecoverable framing error
        if not (value.isascii() and value.isdigit()):
            raise HttpError(400, "Content-Length is not a number")
        return int(value)


def credentials(auth: str) -> tuple[str, str] | None:
    """(user, password) from an Authorization header's Basic value, or ("", token) from
    Bearer; None without either."""
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value:
        return "", value.strip()
    if scheme.lower() == "basic" and value:
        try:
            user, sep, password = base64.b64decode(value.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise HttpError(400, "Authorization header is not valid Basic") from None
        if sep:
            return user, password
    return None


class ChunkedDecoder:
    """RFC 9112 §7.1 chunked body decoder; feed bytes, get data, `done` after the last chunk."""

    MAX_LINE = 1024

    def __init__(self) -> None:
        self._buf = bytearray()
        self._remaining = 0  # bytes left in the current chunk's data
        self._state = "size"  # size | data | data_crlf | trailer | done
        self.done = False

    def feed(self, data: bytes) -> bytes:
        self._buf += data
        out = bytearray()
        while True:
            if self._state == "size":
                idx = self._buf.find(b"\r\n")
                if idx > self.MAX_LINE or (idx < 0 and len(self._buf) > self.MAX_LINE + 1):
                    raise HttpError(400, "chunk size line too long")
                if idx < 0:
                    break
                line = bytes(self._buf[:idx]).split(b";")[0].strip()
                del self._buf[:idx + 2]
                if not line or line.strip(b"0123456789abcdefABCDEF"):
                    raise HttpError(400, f"bad chunk size {line[:20]!r}")
                self._remaining = int(line, 16)
                self._state = "trailer" if self._remaining == 0 else "data"
            elif self._state == "data":
                if not self._buf:
                    break
                k = min(self._remaining, len(self._buf))
                out += self._buf[:k]
                del self._buf[:k]
                self._remaining -= k
                if self._remaining == 0:
                    self._state = "data_crlf"
            elif self._state == "data_crlf":
                if len(self._buf) < 2:
                    break
                if self._buf[:2] != b"\r\n":
                    raise HttpError(400, "chunk data not followed by CRLF")
                del self._buf[:2]
                self._state = "size"
            elif self._state == "trailer":
                idx = self._buf.find(b"\r\n")
                if idx > self.MAX_LINE or (idx < 0 and len(self._buf) > self.MAX_LINE + 1):
                    raise HttpError(400, "trailer line too long")
                if idx < 0:
                    break
                line = bytes(self._buf[:idx])
                del self._buf[:idx + 2]
                if not line:
                    self._state = "done"
                    self.done = True
            else:
                break
        return bytes(out)


def response(status: int, reason: str, body: bytes = b"", content_type: str = "application/json",
             version: str = "HTTP/1.1", extra: dict[str, str] | None = None) -> bytes:
    head = [f"{version} {status} {reason}", f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}", "Connection: close"]
    for k, v in (extra or {}).items():
        head.append(f"{k}: {v}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body
