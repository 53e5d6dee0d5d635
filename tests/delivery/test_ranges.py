"""Range and conditional requests (RFC 9110 §13, §14): the one decision every replay byte
route answers through. No sockets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from townhall.delivery.ranges import Answer, Unsatisfiable, answer, parse_range

ETAG = '"0123456789abcdef"'
SIZE = 1000


def ask(size: int = SIZE, method: str = "GET", **headers: str) -> Answer:
    return answer(method, {k.replace("_", "-"): v for k, v in headers.items()}, size, ETAG)


def header(a: Answer, name: str) -> str | None:
    return dict(a.headers).get(name)


def test_no_range_is_the_whole_body_with_accept_ranges_and_etag() -> None:
    a = ask()
    assert (a.status, a.start, a.stop) == (200, 0, SIZE)
    assert header(a, "Accept-Ranges") == "bytes" and header(a, "ETag") == ETAG


@pytest.mark.parametrize(("spec", "start", "stop"), [
    ("bytes=0-0", 0, 1), ("bytes=0-99", 0, 100), ("bytes=500-", 500, SIZE),
    ("bytes=990-5000", 990, SIZE),  # §14.1.2: LAST past the end is cut to the end
    ("bytes=-10", 990, SIZE), ("bytes=-5000", 0, SIZE),  # suffix larger than the body
    ("BYTES=1-2", 1, 3),  # range units are case-insensitive (§14.1)
    ("bytes= 1-2 ,", 1, 3),  # OWS and an empty list element (§5.6.1.2)
    ("bytes=0-99999999999999999999999999", 0, SIZE),  # past any 64-bit offset: cut
])
def test_one_satisfiable_range_is_206_with_content_range(spec: str, start: int,
                                                        stop: int) -> None:
    a = ask(range=spec)
    assert (a.status, a.start, a.stop) == (206, start, stop)
    assert header(a, "Content-Range") == f"bytes {start}-{stop - 1}/{SIZE}"


@pytest.mark.parametrize("spec", [
    "bytes=1000-", "bytes=1000-1001", "bytes=99999999999999999999-",  # at or past the end
    "bytes=-0", "bytes=5-3", "bytes=abc", "bytes=1-x", "bytes=+1-2", "bytes=--1",
    "bytes=", "bytes=,", "bytes=1", "bytes=\u0661-\u0662",  # Arabic-Indic digits: not DIGIT
])
def test_unsatisfiable_or_malformed_bytes_range_is_416(spec: str) -> None:
    a = ask(range=spec)
    assert (a.status, a.length) == (416, 0)
    assert header(a, "Content-Range") == f"bytes */{SIZE}"


@pytest.mark.parametrize("spec", ["items=0-1", "bytes", "0-1", "bytes=0-1,5-9",
                                  "bytes=0-1, -5", "bytes=0-1,2000-3000"])
def test_other_units_and_several_ranges_answer_the_whole_body(spec: str) -> None:
    a = ask(range=spec)
    assert (a.status, a.start, a.stop) == (200, 0, SIZE)


def test_empty_body_has_no_satisfiable_range() -> None:
    assert ask(size=0, range="bytes=0-").status == 416
    assert ask(size=0, range="bytes=-1").status == 416
    assert ask(size=0).status == 200


def test_range_is_ignored_on_head() -> None:
    assert ask(method="HEAD", range="bytes=0-1").status == 200


@pytest.mark.parametrize("value", [ETAG, f"W/{ETAG}", '"other", ' + ETAG, "*"])
def test_if_none_match_answers_304_weakly(value: str) -> None:
    for method in ("GET", "HEAD"):
        a = ask(method=method, if_none_match=value, range="bytes=0-1")
        assert (a.status, a.length, header(a, "ETag")) == (304, 0, ETAG)


def test_if_none_match_with_other_tags_answers_the_request() -> None:
    assert ask(if_none_match='"other"').status == 200
    assert ask(if_none_match='"other"', range="bytes=0-1").status == 206
    assert ask(if_none_match="garbage").status == 200


def test_if_match_needs_a_strong_match() -> None:
    assert ask(if_match=ETAG).status == 200
    assert ask(if_match="*").status == 200
    assert ask(if_match=f"W/{ETAG}").status == 412
    assert ask(if_match='"other"').status == 412


def test_if_range_keeps_the_range_only_for_this_etag() -> None:
    assert ask(if_range=ETAG, range="bytes=0-1").status == 206
    assert ask(if_range='"other"', range="bytes=0-1").status == 200
    assert ask(if_range=f"W/{ETAG}", range="bytes=0-1").status == 200  # strong comparison
    # a date: these answers carry no Last-Modified, so it cannot match
    assert ask(if_range="Mon, 07 Dec 2026 15:00:00 GMT", range="bytes=0-1").status == 200
    # If-Range without Range changes nothing
    assert ask(if_range='"other"').status == 200


@given(st.integers(0, 10_000), st.integers(0, 20_000), st.integers(0, 20_000))
def test_first_last_ranges_slice_like_python(size: int, first: int, last: int) -> None:
    spec = f"bytes={first}-{last}"
    if last < first or first >= size:
        with pytest.raises(Unsatisfiable):
            parse_range(spec, size)
        return
    start, stop = parse_range(spec, size) or (-1, -1)
    assert (start, stop) == (first, min(last + 1, size))
    assert 0 < stop - start <= size


@given(st.integers(0, 10_000), st.integers(0, 20_000))
def test_suffix_ranges_are_the_last_bytes(size: int, suffix: int) -> None:
    spec = f"bytes=-{suffix}"
    if suffix == 0 or size == 0:
        with pytest.raises(Unsatisfiable):
            parse_range(spec, size)
        return
    start, stop = parse_range(spec, size) or (-1, -1)
    assert stop == size and stop - start == min(suffix, size)


@given(st.text(max_size=40), st.integers(0, 5000))
def test_any_header_is_a_valid_answer(value: str, size: int) -> None:
    a = answer("GET", {"range": value}, size, ETAG)
    assert a.status in (200, 206, 416)
    assert 0 <= a.start <= a.stop <= size
    if a.status == 206:
        assert header(a, "Content-Range") == f"bytes {a.start}-{a.stop - 1}/{size}"
        assert a.length > 0
    else:
        assert a.status != 200 or (a.start, a.stop) == (0, size)


@given(st.lists(st.tuples(st.integers(0, 3000), st.integers(0, 3000)), min_size=2,
                max_size=5))
def test_several_ranges_are_always_the_whole_body(pairs: list[tuple[int, int]]) -> None:
    spec = "bytes=" + ",".join(f"{a}-{b}" for a, b in pairs)
    a = answer("GET", {"range": spec}, SIZE, ETAG)
    assert (a.status, a.start, a.stop) == (200, 0, SIZE)


@given(st.text(max_size=60))
def test_any_if_none_match_header_answers_without_error(value: str) -> None:
    assert ask(if_none_match=value).status in (200, 304)
