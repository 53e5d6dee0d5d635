"""Per-network shares of finite pools (seats of a capped space, raised hands). Sans-IO.

One outsider often holds many addresses of one network (a /24 of IPv4 or a /64 of IPv6: one
customer's allocation), so a pool's share is counted per network, never per address: 35 GETs
from one address, or from 35 addresses of one /24, take one network's share and no more
(issue 18: 35 GETs filled a capped space of 40). The share is a fraction of the pool with a
floor, so a household or an office behind one address always fits into a small pool.
"""

from __future__ import annotations

import ipaddress
import math

IPV4_PREFIX = 24
IPV6_PREFIX = 64


def share_key(address: str) -> str:
    """The network an address is counted in: its /24 (IPv4) or /64 (IPv6); an IPv4-mapped
    IPv6 address counts as its IPv4 address; anything unparsable counts as itself."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = IPV4_PREFIX if ip.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def network_share(pool: int, fraction: float, floor: int) -> int:
    """How many of a pool of `pool` one network may hold: `fraction` of it, at least `floor`
    (never more than the pool)."""
    return min(pool, max(floor, math.ceil(pool * fraction)))
