"""The ingest HTTP/1.x parser: request heads, credentials, body framing, chunked bodies."""

from __future__ import annotations

import base64
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from townhall.ingest.http1 import ChunkedDecoder, HttpError, RequestHead, is_blank_line, response


def head(*lines: str, request_line: str = "PUT /ingest/abc HTTP/1.1") -> RequestHead:
    return RequestHead.parse("\r\n".join([request_line, *lines]).encode("latin-1"))


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --- request line and headers ---


@pytest.mark.parametrize(("line", "method", "version"), [
    ("PUT /ingest/abc HTTP/1.1", "PUT", "HTTP/1.1"),
    ("POST /ingest/abc HTTP/1.0", "POST", "HTTP/1.0"),
    ("SOURCE /ingest/abc ICE/1.0", "SOURCE", "ICE/1.0"),
])
def test_source_request_lines_parse(line: str, method: str, version: str) -> None:
    parsed = head(request_line=line)
    assert (parsed.method, parsed.target, parsed.version) == (method, "/ingest/abc", version)
    assert parsed.headers == {}


@pytest.mark.parametrize("line", [
    "PUT /ingest/abc", "PUT  /ingest/abc HTTP/1.1", "PUT /ingest/abc HTTP/1.1 extra",
    "PUT /ingest/abc HTTP/2.0", "PUT /ingest/abc FTP/1.0", "", "garbage",
    "PUT /ingest/a b HTTP/1.1",
])
def test_malformed_request_line_is_400(line: str) -> None:
    with pytest.raises(HttpError) as err:
        head(request_line=line)
    assert err.value.status == 400


@pytest.mark.parametrize("method", ["GET", "DELETE", "put", "OPTIONS"])
def test_other_methods_are_405(method: str) -> None:
    with pytest.raises(HttpError) as err:
        head(request_line=f"{method} /ingest/abc HTTP/1.1")
    assert err.value.status == 405


@pytest.mark.parametrize("line", ["NoColon", ": no-name", "Bad Name : x", " folded: x",
                                  "Host : x"])
def test_malformed_header_line_is_400(line: str) -> None:
    with pytest.raises(HttpError) as err:
        head("Host: example", line)
    assert err.value.status == 400


def test_header_names_are_lowercased_values_trimmed_and_repeats_joined() -> None:
    parsed = head("Host: example", "X-Tag:  one ", "x-tag: two", "Content-Type: audio/mpeg")
    assert parsed.headers == {"host": "example", "x-tag": "one, two",
                              "content-type": "audio/mpeg"}


token_chars = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_",
                      min_size=1, max_size=20)
# visible ASCII with inner spaces: what a source client sends
field_values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E),
                       max_size=40).map(str.strip)


@given(fields=st.dictionaries(token_chars, field_values, max_size=8))
def test_any_header_set_parses_back(fields: dict[str, str]) -> None:
    lowered: dict[str, str] = {}
    lines = []
    for name, v in fields.items():
        lines.append(f"{name}: {v}")
        key = name.lower()
        lowered[key] = f"{lowered[key]}, {v}" if key in lowered else v
    assert head(*lines).headers == lowered


# --- credentials ---


@given(user=st.text(alphabet=st.characters(codec="utf-8", exclude_characters=":"), max_size=20),
       password=st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_basic_credentials_round_trip(user: str, password: str) -> None:
    assert head(f"Authorization: {basic(user, password)}").credentials() == (user, password)


def test_basic_password_may_contain_colons_and_scheme_is_case_insensitive() -> None:
    value = base64.b64encode(b"source:key:with:colons").decode()
    assert head(f"Authorization: basic {value}").credentials() == ("source", "key:with:colons")


TOKEN68 = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~+/="


@given(token=st.text(alphabet=TOKEN68, min_size=1, max_size=60),
       scheme=st.sampled_from(["Bearer", "bearer", "BEARER"]))
def test_bearer_token_is_returned_with_an_empty_user(token: str, scheme: str) -> None:
    assert head(f"Authorization: {scheme} {token}").credentials() == ("", token)


@pytest.mark.parametrize("auth", [None, "Bearer", "Bearer ", "Digest abc",
                                  "Basic " + base64.b64encode(b"no-colon").decode(), "Basic"])
def test_missing_or_unusable_authorization_gives_no_credentials(auth: str | None) -> None:
    lines = [] if auth is None else [f"Authorization: {auth}"]
    assert head(*lines).credentials() is None


@pytest.mark.parametrize("value", ["dXNlcg", base64.b64encode(b"\xff\xfe:x").decode()])
def test_undecodable_basic_credentials_are_400(value: str) -> None:
    with pytest.raises(HttpError) as err:
        head(f"Authorization: Basic {value}").credentials()
    assert err.value.status == 400


# --- framing ---


@pytest.mark.parametrize(("lines", "framing"), [
    ([], "eof"),
    (["Content-Type: audio/mpeg"], "eof"),
    (["Content-Length: 10"], "length"),
    (["Transfer-Encoding: chunked"], "chunked"),
    (["Transfer-Encoding: Chunked"], "chunked"),
    (["Transfer-Encoding: chunked", "Content-Length: 10"], "chunked"),
])
def test_framing_is_chunked_length_or_until_close(lines: list[str], framing: str) -> None:
    assert head(*lines).framing() == framing


@pytest.mark.parametrize("te", ["gzip", "gzip, chunked", "identity"])
def test_other_transfer_codings_are_501(te: str) -> None:
    with pytest.raises(HttpError) as err:
        head(f"Transfer-Encoding: {te}").framing()
    assert err.value.status == 501


@given(n=st.integers(0, 2**62))
def test_content_length_parses(n: int) -> None:
    assert head(f"Content-Length: {n}").content_length() == n


@pytest.mark.parametrize("value", ["-1", "ten", "", "1.5", "5, 5", "0x10"])
def test_bad_content_length_is_400(value: str) -> None:
    with pytest.raises(HttpError) as err:
        head(f"Content-Length: {value}").content_length()
    assert err.value.status == 400


@pytest.mark.parametrize("value", ["1_0", "+5"])
def test_content_length_must_be_plain_digits(value: str) -> None:
    with pytest.raises(HttpError) as err:
        head(f"Content-Length: {value}").content_length()
    assert err.value.status == 400


# --- chunked bodies ---


def feed_all(pieces: list[bytes]) -> tuple[bytes, ChunkedDecoder]:
    decoder = ChunkedDecoder()
    return b"".join(decoder.feed(p) for p in pieces), decoder


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@st.composite
def chunked_bodies(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """(encoded body, payload): random chunk sizes, hex case, extensions and trailers."""
    chunks = draw(st.lists(st.binary(min_size=1, max_size=40), max_size=6))
    wire = b""
    for chunk in chunks:
        size = format(len(chunk), draw(st.sampled_from(["x", "X", "04x"]))).encode()
        ext = draw(st.sampled_from([b"", b";name=value", b"; a", b";x=\"q\""]))
        wire += size + ext + b"\r\n" + chunk + b"\r\n"
    last = draw(st.sampled_from([b"0", b"000", b"0;end"]))
    trailers = draw(st.lists(st.sampled_from([b"X-Checksum: abc", b"Expires: never"]),
                             max_size=2))
    wire += last + b"\r\n" + b"".join(t + b"\r\n" for t in trailers) + b"\r\n"
    return wire, b"".join(chunks)


@given(body=chunked_bodies(), cuts=st.lists(st.integers(0, 400), max_size=20))
def test_chunked_body_decodes_the_same_however_it_is_split(body: tuple[bytes, bytes],
                                                           cuts: list[int]) -> None:
    wire, payload = body
    whole, decoder = feed_all([wire])
    assert (whole, decoder.done) == (payload, True)
    pieces, decoder = feed_all(split(wire, cuts))
    assert (pieces, decoder.done) == (payload, True)
    bytewise, decoder = feed_all([wire[i:i + 1] for i in range(len(wire))])
    assert (bytewise, decoder.done) == (payload, True)


@given(body=chunked_bodies())
def test_chunked_body_is_done_only_after_the_final_empty_line(body: tuple[bytes, bytes]) -> None:
    wire, _ = body
    decoder = ChunkedDecoder()
    for i in range(len(wire)):
        assert not decoder.done, f"done after {i} of {len(wire)} bytes"
        decoder.feed(wire[i:i + 1])
    assert decoder.done


def test_bytes_after_the_last_chunk_are_not_body() -> None:
    decoder = ChunkedDecoder()
    assert decoder.feed(b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n") == b"abc"
    assert decoder.done
    assert decoder.feed(b"more") == b""


def test_large_chunk_spans_many_feeds() -> None:
    payload = bytes(range(256)) * 40
    wire = format(len(payload), "x").encode() + b"\r\n" + payload + b"\r\n0\r\n\r\n"
    out, decoder = feed_all(split(wire, list(range(0, len(wire), 777))))
    assert out == payload and decoder.done


@pytest.mark.parametrize("wire", [
    b"zz\r\nab\r\n",  # not hex
    b"\r\nab\r\n",  # empty size line
    b"3\r\nabcXY0\r\n\r\n",  # data not followed by CRLF
    b"1" * 1100,  # size line with no end
    b"0\r\n" + b"X" * 1100,  # trailer line with no end
])
def test_bad_chunk_framing_is_400_whether_fed_whole_or_bytewise(wire: bytes) -> None:
    for pieces in ([wire], [wire[i:i + 1] for i in range(len(wire))]):
        with pytest.raises(HttpError) as err:
            feed_all(pieces)
        assert err.value.status == 400


def test_negative_chunk_size_is_400() -> None:
    with pytest.raises(HttpError) as err:
        ChunkedDecoder().feed(b"-1\r\nabc\r\n0\r\n\r\n")
    assert err.value.status == 400


@pytest.mark.parametrize("size", [b"0x3", b"+3", b"0_3"])
def test_chunk_size_is_only_hex_digits(size: bytes) -> None:
    with pytest.raises(HttpError) as err:
        ChunkedDecoder().feed(size + b"\r\nabc\r\n0\r\n\r\n")
    assert err.value.status == 400


def outcome(pieces: list[bytes]) -> bytes | int:
    """The decoded body, or the status of the HttpError raised."""
    try:
        return feed_all(pieces)[0]
    except HttpError as exc:
        return exc.status


def test_long_chunk_size_line_gets_one_answer_however_it_arrives() -> None:
    for ext in (1000, 1021, 1022, 1023, 1024, 2000):  # around MAX_LINE = 1024
        wire = b"3;" + b"x" * ext + b"\r\nabc\r\n0\r\n\r\n"
        whole = outcome([wire])
        bytewise = outcome([wire[i:i + 1] for i in range(len(wire))])
        assert whole == bytewise, f"line of {ext + 2} bytes: {whole!r} vs {bytewise!r}"


# --- responses ---


def test_response_is_a_complete_closed_http_message() -> None:
    raw = response(401, "Unauthorized", b'{"e":1}', extra={"WWW-Authenticate": "Basic"})
    head_bytes, _, body = raw.partition(b"\r\n\r\n")
    lines = head_bytes.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 401 Unauthorized"
    assert {"Content-Length: 7", "Connection: close", "WWW-Authenticate: Basic",
            "Content-Type: application/json"} <= set(lines[1:])
    assert body == b'{"e":1}'


def test_a_head_with_bare_lf_line_ends_parses_like_crlf() -> None:
    # rfc9112 §2.2; DarkIce ends its header lines with a bare LF
    raw = b"SOURCE /ingest/abc ICE/1.0\ncontent-type: audio/mpeg\r\nAuthorization: Basic eDp5\n"
    head = RequestHead.parse(raw)
    assert (head.method, head.target) == ("SOURCE", "/ingest/abc")
    assert head.headers == {"content-type": "audio/mpeg", "authorization": "Basic eDp5"}


def test_the_blank_line_ends_a_head_with_crlf_or_bare_lf() -> None:
    assert is_blank_line(b"\n") and is_blank_line(b"\r\n")
    assert not is_blank_line(b"a\n") and not is_blank_line(b" \r\n")


def test_icecast_metadata_updates_are_the_one_get_taken() -> None:
    parsed = RequestHead.parse(b"GET /admin/metadata?mode=updinfo&mount=/ingest/abc&song=x "
                               b"HTTP/1.0\r\nAuthorization: Basic eDp5\r\n")
    assert parsed.method == "GET"
