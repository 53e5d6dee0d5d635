"""Proof of work for joins in attack mode: the client burns CPU, the server checks in µs.

Challenge = "<expires>.<difficulty>.<nonce>.<mac>", mac = HMAC-SHA256(secret, the rest)[:16
hex]. A solution is a decimal counter c such that SHA-256("<challenge>:<c>") starts with
`difficulty` zero bits. Challenges are stateless to issue; each is accepted once (a bounded
memory of spent ones, kept until they expire). Sans-IO: time is an argument.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict

MAX_DIFFICULTY = 32


def leading_zero_bits(digest: bytes) -> int:
    bits = 0
    for byte in digest:
        if byte == 0:
            bits += 8
            continue
        return bits + 8 - byte.bit_length()
    return bits


class ProofOfWork:
    def __init__(self, secret: bytes, ttl_s: float = 120.0, max_spent: int = 1_000_000) -> None:
        self._secret = secret
        self.ttl_s = ttl_s
        self._spent: OrderedDict[str, float] = OrderedDict()
        self.max_spent = max_spent

    def _mac(self, body: str) -> str:
        return hmac.new(self._secret, body.encode(), hashlib.sha256).hexdigest()[:16]

    def challenge(self, difficulty: int, now: float) -> str:
        if not 0 <= difficulty <= MAX_DIFFICULTY:
            raise ValueError(f"difficulty must be 0..{MAX_DIFFICULTY}")
        body = f"{int(now + self.ttl_s)}.{difficulty}.{secrets.token_hex(8)}"
        return f"{body}.{self._mac(body)}"

    def verify(self, challenge: str, solution: str, now: float) -> str | None:
        """None if the solution is good (and spends the challenge), else why not."""
        parts = challenge.split(".")
        if len(parts) != 4 or not solution.isdigit() or len(solution) > 20:
            return "malformed challenge or solution"
        body = ".".join(parts[:3])
        if not hmac.compare_digest(self._mac(body), parts[3]):
            return "challenge was not issued here"
        try:
            expires, difficulty = int(parts[0]), int(parts[1])
        except ValueError:
            return "malformed challenge"
        if expires < now:
            return "challenge expired; fetch a new one"
        if challenge in self._spent:
            return "challenge already used"
        digest = hashlib.sha256(f"{challenge}:{solution}".encode()).digest()
        if leading_zero_bits(digest) < difficulty:
            return "solution does not meet the difficulty"
        self._spent[challenge] = expires
        while self._spent and (len(self._spent) > self.max_spent
                               or next(iter(self._spent.values())) < now):
            self._spent.popitem(last=False)
        return None


def solve(challenge: str, difficulty: int, limit: int = 1 << 32) -> str:
    """Reference solver (the page runs the same loop in a Web Worker)."""
    for counter in range(limit):
        digest = hashlib.sha256(f"{challenge}:{counter}".encode()).digest()
        if leading_zero_bits(digest) >= difficulty:
            return str(counter)
    raise ValueError("no solution within the limit")
