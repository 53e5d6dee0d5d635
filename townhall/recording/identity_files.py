"""Where the signing identity lives on disk: created on first start, or given by the operator.

Blocking file IO, called once at start. A created key is written with mode 600 under
<data_dir>/signing/ (key.pem, chain.pem) and reused on every later start, so the fingerprint
that listeners kept stays the deployment's. An operator's key and chain (PEM) are read, never
copied or rewritten.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from townhall.recording.signing import SigningIdentity, create_identity


def load_or_create(directory: Path, name: str, key_path: Path | None = None,
                   chain_path: Path | None = None) -> SigningIdentity:
    if (key_path is None) != (chain_path is None):
        raise ValueError("give both the signing key and its certificate chain, or neither")
    if key_path is not None and chain_path is not None:
        return SigningIdentity.from_pem(key_path.read_bytes(), chain_path.read_bytes())
    key_file, chain_file = directory / "key.pem", directory / "chain.pem"
    if key_file.exists() and chain_file.exists():
        return SigningIdentity.from_pem(key_file.read_bytes(), chain_file.read_bytes())
    identity = create_identity(name, dt.datetime.now(dt.UTC))
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(identity.key_pem())
    chain_file.write_bytes(identity.chain_pem())
    return identity
