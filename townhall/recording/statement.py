"""Signed statements: a JSON body, its exact text, and an ECDSA P-256 signature over that text.

Sans-IO. Every public claim of the verifiable record (the sealed manifest, each live
checkpoint, a withdrawal, a clip's excerpt) is one of these:

    {"payload": "<canonical JSON text>", "signature": "<P1363, base64url>",
     "algorithm": "ECDSA-P256-SHA256", "fingerprint": "<sha256 of the key's SPKI>",
     "spki": "<the public key, DER SubjectPublicKeyInfo, base64url>"}

The key travels along so that a statement checks offline; whether it is *the deployment's*
key is the verifier's question (`--key`, or the fingerprint published at
/.well-known/townhall-signing.json), never answered by the statement itself.

Why the text travels verbatim: a verifier (Python, or WebCrypto in a browser) checks the
signature over the UTF-8 bytes of `payload` and only then parses it, so no verifier has to
re-serialise JSON the same way (Python and JavaScript print floats differently). What the
statement says is the parsed payload, never the fields around it.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from townhall.recording.signing import (
    ALGORITHM,
    SigningIdentity,
    b64url,
    fingerprint,
    public_key_from_spki,
    spki,
    unb64url,
    verify,
)


class BadStatement(ValueError):
    """The statement is malformed, signed by another key, or its signature does not hold."""


def canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def sign(identity: SigningIdentity, body: dict[str, Any]) -> dict[str, str]:
    text = canonical(body)
    return {"payload": text, "signature": identity.sign(text.encode()),
            "algorithm": ALGORITHM, "fingerprint": identity.fingerprint,
            "spki": b64url(spki(identity.public))}


def embedded_key(doc: Any) -> ec.EllipticCurvePublicKey:
    """The public key a statement names (not yet trusted: compare its fingerprint)."""
    try:
        return public_key_from_spki(unb64url(str(doc["spki"])))
    except (KeyError, TypeError, ValueError):
        raise BadStatement("the statement carries no usable public key") from None


def open_statement(doc: Any, public: ec.EllipticCurvePublicKey, kind: str) -> dict[str, Any]:
    """The body of `doc` if `public` signed it and it is a `kind` statement."""
    if not isinstance(doc, dict) or not isinstance(doc.get("payload"), str) \
            or not isinstance(doc.get("signature"), str):
        raise BadStatement(f"the {kind} is not a signed statement (payload, signature)")
    if doc.get("fingerprint") not in (None, fingerprint(public)):
        raise BadStatement(f"the {kind} is signed by key {str(doc.get('fingerprint'))[:16]}…, "
                           f"not by {fingerprint(public)[:16]}…")
    if not verify(public, doc["payload"].encode(), doc["signature"]):
        raise BadStatement(f"the {kind}'s signature does not verify with key "
                           f"{fingerprint(public)[:16]}…")
    try:
        body = json.loads(doc["payload"])
    except ValueError:
        raise BadStatement(f"the {kind}'s payload is not JSON") from None
    if not isinstance(body, dict) or body.get("type") != f"townhall.{kind}":
        raise BadStatement(f"the signed payload is not a townhall {kind}")
    return body
