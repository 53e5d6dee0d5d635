"""Who is asking: `delivery.client_ip` (a core, so that the WHIP edge asks it too), under the
name the web edge imports."""

from townhall.delivery.client_ip import (
    EDGE_HEADER,
    Network,
    TrustedEdges,
    client_address,
    parse_networks,
)

__all__ = ["EDGE_HEADER", "Network", "TrustedEdges", "client_address", "parse_networks"]
