"""Who is asking: the peer address, or X-Real-IP when the peer is a trusted edge proxy.

An edge is trusted either by its network (`--trusted-proxy`, loopback by default) or, from
anywhere, by the shared edge secret (`data/edge.secret`) that `townhall edge-config` writes
into the edge's `X-Townhall-Edge` header: so an edge on another machine is believed without
configuration, and a client that sets X-Real-IP itself is not.

A core (no I/O): the HTTP edge (web/) and the WHIP edge (ingest/whip.py) ask it alike, so
every per-address and per-network share counts one address the same way.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Scope = Mapping[str, Any]  # an ASGI scope (this core imports no web framework)


EDGE_HEADER = b"x-townhall-edge"


class TrustedEdges(list[Network]):
    """The trusted networks, and the secret that proves an edge from anywhere."""

    edge_secret: bytes = b""


def parse_networks(cidrs: Iterable[str], edge_secret: str = "") -> list[Network]:
    trusted = TrustedEdges(ipaddress.ip_network(c, strict=False) for c in cidrs)
    trusted.edge_secret = edge_secret.encode()
    return trusted


def _edge_proven(scope: Scope, trusted: list[Network]) -> bool:
    secret = getattr(trusted, "edge_secret", b"")
    if not secret:
        return False
    for name, value in scope.get("headers", ()):
        if name == EDGE_HEADER:
            return hmac.compare_digest(value, secret)
    return False


def client_address(scope: Scope, trusted: list[Network]) -> str:
    client = scope.get("client")
    peer = client[0] if client else "0.0.0.0"
    try:
        peer_ip = ipaddress.ip_address(peer)
    except ValueError:
        return peer
    if any(peer_ip in net for net in trusted) or _edge_proven(scope, trusted):
        for name, value in scope.get("headers", ()):
            if name == b"x-real-ip":
                candidate = value.decode("latin-1").strip()
                try:
                    return str(ipaddress.ip_address(candidate))
                except ValueError:
                    break
    return peer
