"""Which remote ICE candidates of a WHIP offer the origin may send packets to. Sans-IO.

An offer names the addresses the origin's ICE agent will send STUN connectivity checks to,
so an offer naming hundreds of third parties turns the origin into a reflector (one 30 KB
offer made it send 1,854 packets to 499 addresses). So: the offer's candidate lines are
counted before anything is parsed (past `max_candidates` the offer is refused), and only
candidates on a global unicast address, or in a network the operator allows (tests allow
loopback), are kept; private, loopback, link-local, multicast, reserved and unresolved
(mDNS `.local`) ones are dropped. Dropping costs nothing that works: the speaker's own checks
reach the origin, which learns its address as a peer-reflexive candidate (RFC 8445 §7.3.1.3).

Screen what the parser reads: aiortc's `sdp.grouplines` splits with `str.splitlines()`, which
breaks a line at CR, LF, CRLF and also at \v \f \x1c \x1d \x1e \x85 \u2028 \u2029; a
screen that split on LF alone let one 35 KB offer hide 1,378 candidates inside "one" line. So
an offer whose lines end in anything but CRLF or LF is refused (`AmbiguousLines`: two parsers
could read it differently), the screen splits exactly as aiortc does, and the offer it hands
on is re-joined with CRLF, so what aiortc parses is line for line what was screened.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Screened:
    sdp: str
    kept: int
    dropped: int


class TooManyCandidates(ValueError):
    pass


class TooManyMedia(ValueError):
    pass


class AmbiguousLines(ValueError):
    pass


# what str.splitlines() (and so aiortc's SDP parser) breaks a line at, besides CR and LF
_OTHER_BREAKS = "\v\f\x1c\x1d\x1e\x85\u2028\u2029"


def lines_of(sdp: str) -> list[str]:
    """The offer's lines as aiortc's parser reads them (`str.splitlines()`), once the only
    line ends are CRLF or LF; AmbiguousLines otherwise (a bare CR, or any other break)."""
    plain = sdp.replace("\r\n", "\n")
    if "\r" in plain:
        raise AmbiguousLines("an SDP line ends in a bare CR: end lines with CRLF (RFC 8866 §5)")
    bad = next((c for c in plain if c in _OTHER_BREAKS), None)
    if bad is not None:
        raise AmbiguousLines(f"the SDP offer holds the line break {bad!r}: end lines with CRLF "
                             "and use no other line-break character")
    lines = sdp.splitlines()
    assert len(lines) == len(plain.split("\n")) - (1 if plain.endswith("\n") else 0)
    return lines


def parse_networks(cidrs: str) -> list[Network]:
    return [ipaddress.ip_network(c.strip(), strict=False) for c in cidrs.split(",") if c.strip()]


def _allowed(address: str, allowed: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # a hostname (mDNS): never resolved on the origin's behalf
    if any(ip in net for net in allowed):
        return True
    return ip.is_global and not ip.is_multicast


def screen(sdp: str, max_candidates: int, allowed: Iterable[Network],
           max_media: int | None = None) -> Screened:
    """The offer with only the candidates the origin may check, re-joined with CRLF;
    AmbiguousLines if its line ends are not all CRLF/LF, TooManyCandidates if it names more
    than `max_candidates`, TooManyMedia past `max_media` m= sections. Works on the lines as
    aiortc's parser will split them; no SDP parser runs before this."""
    lines = lines_of(sdp)
    if max_media is not None:
        media = sum(1 for line in lines if line.startswith("m="))
        if media > max_media:
            raise TooManyMedia(f"an offer may have at most {max_media} m= sections")
    count = sum(1 for line in lines if line.startswith("a=candidate:"))
    if count > max_candidates:
        raise TooManyCandidates(f"the offer names {count} ICE candidates; at most "
                                f"{max_candidates} are accepted")
    allowed = list(allowed)
    out, kept, dropped = [], 0, 0
    for line in lines:
        if line.startswith("a=candidate:"):
            fields = line.split()  # as aiortc's candidate_from_sdp splits it
            if len(fields) < 8 or not _allowed(fields[4], allowed):
                dropped += 1
                continue
            kept += 1
        out.append(line)
    return Screened("".join(line + "\r\n" for line in out), kept, dropped)
