"""Screen what the parser reads: the WHIP candidate screen sees the offer's lines exactly as
aiortc's SDP parser will (`str.splitlines()`), whatever line breaks and encodings an offer
uses. Generated offers are screened, then parsed by aiortc itself: the candidates aiortc would
check are never more than the screen's limit, and never an address the screen drops."""

from __future__ import annotations

import ipaddress

import pytest
from aiortc.sdp import SessionDescription
from hypothesis import given, settings
from hypothesis import strategies as st

from townhall.ingest.candidates import (
    AmbiguousLines,
    TooManyCandidates,
    TooManyMedia,
    parse_networks,
    screen,
)

MAX = 5
HEAD = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0", "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "c=IN IP4 0.0.0.0", "a=ice-ufrag:abcd", "a=ice-pwd:0123456789abcdef0123456789",
        "a=fingerprint:sha-256 " + ":".join(["AB"] * 32), "a=rtpmap:111 opus/48000/2"]
# every break str.splitlines() knows (aiortc's grouplines uses it), and the usual ones
BREAKS = ["\r\n", "\n", "\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
ADDRESSES = ["8.8.8.8", "1.1.1.1", "127.0.0.1", "10.0.0.1", "192.168.1.1", "2001:4860::8888",
             "fe80::1", "x.local", "224.0.0.1"]


def aiortc_candidates(sdp: str) -> list[str]:
    """The remote addresses aiortc's own parser takes from an offer (what ICE would check)."""
    desc = SessionDescription.parse(sdp)
    return [c.ip for m in desc.media for c in m.ice_candidates]


def allowed_by_screen(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_global and not ip.is_multicast


candidate = st.builds(lambda i, addr, sep: f"a=candidate:{i} 1 udp 1 {addr} 9 typ host{sep}",
                      st.integers(0, 999), st.sampled_from(ADDRESSES),
                      st.sampled_from(["", " ", "\t"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(candidate, st.sampled_from(BREAKS)), max_size=3 * MAX),
       st.sampled_from(BREAKS), st.sampled_from(["utf-8", "latin-1"]))
def test_aiortc_never_reads_more_candidates_than_the_screen_allows(
        lines: list[tuple[str, str]], head_break: str, encoding: str) -> None:
    offer = head_break.join(HEAD) + head_break + "".join(c + b for c, b in lines)
    # an offer that arrived in another encoding is read as UTF-8 (or refused) at the edge
    raw = offer.encode(encoding, errors="ignore")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return  # the WHIP edge answers 400: not UTF-8
    try:
        screened = screen(text, MAX, [])
    except (AmbiguousLines, TooManyCandidates, TooManyMedia):
        return  # refused before any parser runs
    try:
        heard = aiortc_candidates(screened.sdp)
    except Exception:  # aiortc's parser asserts: the edge answers 400
        return
    assert len(heard) <= MAX
    assert all(allowed_by_screen(ip) for ip in heard), heard
    assert len(heard) == screened.kept


@pytest.mark.parametrize("brk", BREAKS[2:])
def test_a_candidate_flood_hidden_behind_any_other_line_break_is_refused(brk: str) -> None:
    """The 35 KB offer: one LF-line holding hundreds of candidates behind NEL, LS, VT..."""
    flood = brk.join(f"a=candidate:{i} 1 udp 1 8.8.{i // 250}.{i % 250} 9 typ host"
                     for i in range(400))
    offer = "\r\n".join(HEAD) + "\r\n" + flood + "\r\n"
    assert len(aiortc_candidates(offer)) == 400  # what aiortc would have checked
    with pytest.raises(AmbiguousLines):
        screen(offer, MAX, [])


@pytest.mark.parametrize("brk", ["\r\n", "\n"])
def test_offers_with_crlf_or_lf_lines_are_screened_line_for_line(brk: str) -> None:
    named = ["a=candidate:1 1 udp 1 8.8.8.8 9 typ host",
             "a=candidate:2 1 udp 1 127.0.0.1 9 typ host",
             "a=candidate:3 1 udp 1 10.0.0.1 9 typ host"]
    out = screen(brk.join(HEAD + named) + brk, MAX, parse_networks("127.0.0.1/32"))
    assert (out.kept, out.dropped) == (2, 1)
    assert aiortc_candidates(out.sdp) == ["8.8.8.8", "127.0.0.1"]
    assert out.sdp.endswith("\r\n") and "\r\n" not in out.sdp.replace("\r\n", "")


def test_media_sections_are_counted_as_the_parser_splits_them() -> None:
    offer = "\r\n".join(HEAD) + "\r\n" + "\u2028".join(["m=audio 9 RTP/AVP 0"] * 30) + "\r\n"
    with pytest.raises(AmbiguousLines):
        screen(offer, MAX, [], max_media=4)
    plain = "\r\n".join(HEAD + ["m=audio 9 RTP/AVP 0"] * 5) + "\r\n"
    with pytest.raises(TooManyMedia):
        screen(plain, MAX, [], max_media=4)
