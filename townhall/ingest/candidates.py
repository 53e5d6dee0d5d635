"""Which remote ICE candidates of a WHIP offer the origin may send packets to. Sans-IO.

An offer names the addresses the origin's ICE agent will send STUN connectivity checks to,
so an offer naming hundreds of third parties turns the origin into a reflector (one 30 KB
offer made it send 1,854 packets to 499 addresses). So: the offer's candidate lines are
counted before anything is parsed (past `max_candidates` the offer is refused), and only
candidates on a global unicast address, or in a network the operator allows (tests allow
loopback), are kept; private, loopback, link-local, multicast, reserved and unresolved
(mDNS `.local`) ones are dropped. Dropping costs nothing that works: the speaker's own checks
reach the origin, which learns its address as a peer-reflexive candidate (RFC 8445 §7.3.1.3).
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


def screen(sdp: str, max_candidates: int, allowed: Iterable[Network]) -> Screened:
    """The offer with only the candidates the origin may check; TooManyCandidates if it names
    more than `max_candidates`. Works on the text: no SDP parser runs before this."""
    lines = sdp.split("\n")
    count = sum(1 for line in lines if line.startswith("a=candidate:"))
    if count > max_candidates:
        raise TooManyCandidates(f"the offer names {count} ICE candidates; at most "
                                f"{max_candidates} are accepted")
    allowed = list(allowed)
    out, kept, dropped = [], 0, 0
    for line in lines:
        if line.startswith("a=candidate:"):
            fields = line.split()
            if len(fields) < 8 or not _allowed(fields[4], allowed):
                dropped += 1
                continue
            kept += 1
        out.append(line)
    return Screened("\n".join(out), kept, dropped)
