"""Range and conditional requests on immutable bytes (RFC 9110 §13, §14). Sans-IO.

Given a request's method and headers, a representation's size and its strong ETag, decides
the status and the headers of the answer and which bytes it carries. Every byte route of the
replay (the `.m4a`, clips, `init.mp4`, segments, the playlist) answers through it, so they
all agree with each other and with an nginx edge serving the same bytes from its cache:

- `Range: bytes=FIRST-LAST`, `bytes=FIRST-` and `bytes=-SUFFIX` answer 206 with
  `Content-Range`; a LAST past the end is cut to the end (§14.1.2);
- a range that starts at or past the end, a suffix of 0, and a `bytes=` value that does not
  parse (LAST before FIRST, letters, a sign) answer 416 with `Content-Range: bytes */SIZE`
  (§14.1.1 lets a server reject or ignore an invalid range; nginx rejects, so we do too);
- another unit than `bytes` is ignored (§14.2: 200 with the whole body), and so is a request
  for **several ranges**: a player asks for one, a multipart answer costs more than the whole
  of a short clip, and §14.2 lets a server ignore Range altogether;
- `If-None-Match` (weak comparison, §13.1.2) answers 304; `If-Match` without a strong match
  412 (§13.1.1); `If-Range` (§13.1.5) keeps the Range only when it names this ETag (strong
  comparison; a date never matches: these answers carry no Last-Modified).
The order is §13.2.2's. Never reads a file, never sees a socket.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

BYTES = "bytes"
ACCEPT_RANGES = ("Accept-Ranges", "bytes")


@dataclass(frozen=True)
class Answer:
    status: int  # 200, 206, 304, 412 or 416
    start: int  # the body is representation[start:stop] (empty for 304, 412, 416)
    stop: int
    headers: tuple[tuple[str, str], ...]

    @property
    def length(self) -> int:
        return self.stop - self.start


class Unsatisfiable(Exception):
    """The Range header asks for bytes this representation does not have (416)."""


def _number(text: str) -> int:
    # 1*DIGIT only: int() would also take "+1", " 1", "1_0" and non-ASCII digits
    if not text or not text.isascii() or not text.isdigit():
        raise Unsatisfiable(f"not a byte position: {text!r}")
    return int(text)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, stop) of the one range asked for; None: answer the whole (no header, another
    unit, several ranges); raises Unsatisfiable for 416."""
    if header is None:
        return None
    unit, eq, ranges = header.partition("=")
    if not eq or unit.strip().lower() != BYTES:
        return None  # §14.2: a range unit we do not know is ignored
    # §5.6.1.2: empty list elements are ignored
    specs = [s.strip() for s in ranges.split(",") if s.strip()]
    if not specs:
        raise Unsatisfiable("no range in the Range header")
    if len(specs) > 1:
        return None
    first, dash, last = specs[0].partition("-")
    if not dash:
        raise Unsatisfiable("a range is FIRST-LAST, FIRST- or -SUFFIX")
    if not first:  # suffix-range: the last N bytes (§14.1.1)
        suffix = _number(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable("an empty suffix")
        return max(0, size - suffix), size
    start = _number(first)
    end = _number(last) if last else None
    if end is not None and end < start:
        raise Unsatisfiable("LAST before FIRST")
    if start >= size:
        raise Unsatisfiable("FIRST at or past the end")
    stop = size if end is None else min(end + 1, size)
    return start, stop


def _tags(header: str) -> list[str] | None:
    """The entity-tags of an If-Match / If-None-Match list; None for `*`."""
    if header.strip() == "*":
        return None
    out, rest = [], header.strip()
    while rest:
        rest = rest.lstrip(" \t,")
        if not rest:
            break
        weak = rest.startswith("W/")
        body = rest[2:] if weak else rest
        if not body.startswith('"'):
            break  # not an entity-tag: stop reading (the list matches nothing further)
        close = body.find('"', 1)
        if close < 0:
            break
        out.append(("W/" if weak else "") + body[: close + 1])
        rest = body[close + 1:]
    return out


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag


def _weak_match(header: str, etag: str) -> bool:
    tags = _tags(header)
    return tags is None or any(_opaque(t) == _opaque(etag) for t in tags)


def _strong_match(header: str, etag: str) -> bool:
    tags = _tags(header)
    return tags is None or any(t == etag and not t.startswith("W/") for t in tags)


def answer(method: str, headers: Mapping[str, str], size: int, etag: str) -> Answer:
    """The answer to GET or HEAD of `size` bytes whose strong ETag is `etag` (quoted).
    `headers` is the request's, looked up by lowercase name."""
    common = (ACCEPT_RANGES, ("ETag", etag))
    if_match = headers.get("if-match")
    if if_match is not None and not _strong_match(if_match, etag):
        return Answer(412, 0, 0, common)  # §13.1.1
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None and _weak_match(if_none_match, etag):
        return Answer(304, 0, 0, common)  # §13.1.2: GET and HEAD
    whole = Answer(200, 0, size, common)
    if method != "GET":
        return whole  # §14.2: Range is defined for GET only
    if_range = headers.get("if-range")
    if if_range is not None and if_range.strip() != etag:
        return whole  # §13.1.5: strong comparison; a date never matches (no Last-Modified)
    try:
        picked = parse_range(headers.get("range"), size)
    except Unsatisfiable:
        return Answer(416, 0, 0, (*common, ("Content-Range", f"bytes */{size}")))
    if picked is None:
        return whole
    start, stop = picked
    return Answer(206, start, stop,
                  (*common, ("Content-Range", f"bytes {start}-{stop - 1}/{size}")))
