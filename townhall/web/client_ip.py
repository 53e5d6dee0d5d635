"""Who is asking: the peer address, or X-Real-IP when the peer is a trusted edge proxy."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: Iterable[str]) -> list[Network]:
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


def client_address(scope: Scope, trusted: list[Network]) -> str:
    client = scope.get("client")
    peer = client[0] if client else "0.0.0.0"
    try:
        peer_ip = ipaddress.ip_address(peer)
    except ValueError:
        return peer
    if any(peer_ip in net for net in trusted):
        for name, value in scope.get("headers", ()):
            if name == b"x-real-ip":
                candidate = value.decode("latin-1").strip()
                try:
                    return str(ipaddress.ip_address(candidate))
                except ValueError:
                    break
    return peer
