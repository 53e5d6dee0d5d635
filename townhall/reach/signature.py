"""Standard Webhooks signatures (standardwebhooks.com, spec "Signature scheme"). Core: no I/O.

The signed content is `{webhook-id}.{webhook-timestamp}.{body}`; the signature is
`v1,<base64 HMAC-SHA256>` keyed by the secret's bytes (`whsec_<base64>`). A receiver checks
the timestamp is recent (replay protection) and compares in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"
TOLERANCE_S = 300  # the spec's suggested window for webhook-timestamp


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def _key(secret: str) -> bytes:
    if not secret.startswith(PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    return base64.b64decode(secret.removeprefix(PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    content = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, msg_id, timestamp, body),
            "content-type": "application/json"}


def verify(secret: str, received: dict[str, str], body: bytes, now: float) -> bool:
    """What a receiver does: any of the space-separated signatures matches, and the
    timestamp is within TOLERANCE_S of `now`."""
    try:
        msg_id, ts = received["webhook-id"], int(received["webhook-timestamp"])
    except (KeyError, ValueError):
        return False
    if abs(now - ts) > TOLERANCE_S:
        return False
    expected = sign(secret, msg_id, ts, body)
    return any(hmac.compare_digest(expected, s) for s in received.get(
        "webhook-signature", "").split())
