"""The token that marks a source relayed by an origin through the edge (`X-Townhall-Relay`).

Derived from the deployment's edge secret, so every origin computes the same one: the ingest
relay (`ingest/relay.py`) sends it, an ingest port takes it as "serve it here", and the edge
config (`edge_config.py`) spares it from the per-address push limits. Kept here, below both,
so that delivery never imports ingest. Sans-IO.
"""

from __future__ import annotations

import hashlib
import hmac


def relay_token(edge_secret: str) -> str:
    """What proves a relayed request (shared by every origin of a deployment)."""
    return hmac.new(edge_secret.encode(), b"townhall ingest relay",
                    hashlib.sha256).hexdigest()[:32]
