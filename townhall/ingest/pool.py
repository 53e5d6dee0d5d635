"""The ingest port's connection pool: `admission.network_pool` (shared with the WHIP
sessions), under the name the ingest edge uses."""

from townhall.admission.network_pool import Arrival, NetworkPool, network_of

IngestPool = NetworkPool

__all__ = ["Arrival", "IngestPool", "network_of"]
