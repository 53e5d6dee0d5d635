"""Which requests get the gzip-compressed playlist (Accept-Encoding, RFC 9110 §12.5.3)."""

from __future__ import annotations

import pytest

from townhall.delivery.blocking import BadBlockingRequest, parse_skip
from townhall.delivery.encoding import accepts_gzip


@pytest.mark.parametrize(("header", "gzip"), [
    (None, False), ("", False), ("gzip", True), ("gzip, deflate, br, zstd", True),
    ("br;q=1.0, gzip;q=0.8", True), ("gzip;q=0", False), ("GZIP", True), ("*", True),
    ("*;q=0", False), ("identity", False), ("deflate, *;q=0.1", True),
    ("gzip;q=0, *", False), ("gzip;q=bad", False), ("x-gzip", True),
])
def test_gzip_only_when_the_request_accepts_it(header: str | None, gzip: bool) -> None:
    assert accepts_gzip(header) is gzip


def test_skip_directive_accepts_yes_and_v2_and_refuses_anything_else() -> None:
    assert parse_skip(None) is False
    assert parse_skip("YES") is True and parse_skip("v2") is True
    for bad in ("yes", "NO", "", "1"):
        with pytest.raises(BadBlockingRequest):
            parse_skip(bad)
