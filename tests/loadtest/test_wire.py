"""HTTP/1.1 responses parsed from bytes however they are split, and requests rendered."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from townhall.loadtest.wire import (
    ProtocolError,
    Response,
    ResponseParser,
    header_block,
    request_bytes,
)

LENGTH = (b"HTTP/1.1 200 OK\r\nContent-Type: audio/mp4\r\nContent-Length: 5\r\n"
          b"Cache-Control: public\r\n\r\nhello")
CHUNKED = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: yes\r\n\r\n")
RETRY = (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nContent-Length: 2\r\n\r\n{}")
EMPTY = b"HTTP/1.1 204 No Content\r\nX-A: 1\r\nX-A: 2\r\n\r\n"
STREAM = LENGTH + CHUNKED + RETRY + EMPTY


def parse_in_pieces(data: bytes, cuts: list[int]) -> list[Response]:
    parser = ResponseParser()
    out: list[Response] = []
    last = 0
    for cut in [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]:
        out += parser.feed(data[last:cut])
        last = cut
    assert parser.idle
    return out


def check_stream(got: list[Response]) -> None:
    assert [r.status for r in got] == [200, 200, 503, 204]
    assert [r.body for r in got] == [b"hello", b"Wikipedia", b"{}", b""]
    assert got[0].headers["content-type"] == "audio/mp4"
    assert got[2].retry_after() == 2.0 and got[2].json() == {}
    assert got[3].headers["x-a"] == "1, 2"
    assert all(r.keep_alive for r in got)


def test_keep_alive_responses_fed_a_byte_at_a_time_come_out_whole_and_in_order() -> None:
    parser = ResponseParser()
    got: list[Response] = []
    for i in range(len(STREAM)):
        got += parser.feed(STREAM[i:i + 1])
    check_stream(got)


@given(cuts=st.lists(st.integers(0, 10_000), max_size=12))
def test_any_split_of_the_stream_gives_the_same_responses(cuts: list[int]) -> None:
    check_stream(parse_in_pieces(STREAM, cuts))


def test_interim_responses_are_skipped() -> None:
    got = ResponseParser().feed(b"HTTP/1.1 100 Continue\r\n\r\n" + LENGTH)
    assert [r.status for r in got] == [200]


def test_a_body_without_length_ends_when_the_server_closes() -> None:
    parser = ResponseParser()
    assert parser.feed(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart") == []
    assert parser.feed(b"ial") == []
    resp = parser.feed_eof()
    assert resp is not None and resp.body == b"partial" and not resp.keep_alive


def test_a_response_cut_off_by_the_close_is_an_error() -> None:
    parser = ResponseParser()
    parser.feed(LENGTH[:-2])
    with pytest.raises(ProtocolError, match="closed"):
        parser.feed_eof()
    assert ResponseParser().feed_eof() is None  # closing between responses is fine


@pytest.mark.parametrize("data", [
    b"SPDY/3 200 OK\r\n\r\n",
    b"HTTP/1.1 abc OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY",
])
def test_malformed_responses_are_protocol_errors(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        ResponseParser().feed(data)


def test_heads_and_bodies_are_bounded() -> None:
    with pytest.raises(ProtocolError, match="head"):
        ResponseParser(max_head=100).feed(b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 50)
    with pytest.raises(ProtocolError, match="out of bounds"):
        ResponseParser(max_body=10).feed(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n")
    with pytest.raises(ProtocolError, match="over 10"):
        ResponseParser(max_body=10).feed(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n" + b"x" * 11 + b"\r\n")


def test_requests_carry_host_and_a_json_body_with_its_length() -> None:
    block = header_block("127.0.0.1:8000", {"User-Agent": "t"})
    raw = request_bytes("POST", "/api/spaces/abc/join", block, b"{}")
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /api/spaces/abc/join HTTP/1.1"
    assert lines[1:3] == ["Host: 127.0.0.1:8000", "User-Agent: t"]
    assert "Content-Length: 2" in lines and "Content-Type: application/json" in lines
    assert body == b"{}"
    assert request_bytes("GET", "/x", block) == (b"GET /x HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"
                                                b"User-Agent: t\r\n\r\n")


@pytest.mark.parametrize("path", ["/a b", "http://elsewhere/", "/x\r\nHost: evil", ""])
def test_a_path_that_would_break_the_request_line_is_refused(path: str) -> None:
    with pytest.raises(ValueError):
        request_bytes("GET", path, header_block("h:1"))


def test_header_lines_can_not_be_smuggled() -> None:
    with pytest.raises(ValueError):
        header_block("h:1", {"X-A": "1\r\nX-B: 2"})
    with pytest.raises(ValueError):
        header_block("h:1", {"X A": "1"})
