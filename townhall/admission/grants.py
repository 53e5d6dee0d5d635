"""Join grants: the home origin's signed word that any origin may admit listeners to a space.

Sans-IO. A space without a listener cap needs no shared state to admit a listener: a ticket
is an HMAC, and the seat only counts. So the home origin puts a short-lived grant in the
space's details document, `g1.<space>.<valid until>.<seat lifetime>.<sig>`, and any origin
holding the shared secret checks it in constant time and issues a ticket itself: joins and
renewals of one big space spread over every origin. A capped space never gets a grant (the
cap is enforced where the seats are), nor does one in attack mode (joins then need a proof of
work from the home origin).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

GRANT_RE = re.compile(r"^g1\.(?P<space>[a-z0-9]{1,32})\.(?P<until>\d{1,12})\.(?P<ttl>\d{1,6})"
                      r"\.(?P<sig>[A-Za-z0-9_-]{22})$")


class GrantError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class JoinGrants:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the grant secret needs at least 16 bytes")
        self._key = hmac.new(secret, b"townhall join grants", hashlib.sha256).digest()

    def _sign(self, space_id: str, until: int, ttl: int) -> str:
        msg = f"{space_id}|{until}|{ttl}".encode()
        digest = hmac.new(self._key, msg, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, space_id: str, seat_ttl_s: float, now: float, valid_s: float) -> str:
        until, ttl = int(now + valid_s), max(1, int(seat_ttl_s))
        return f"g1.{space_id}.{until}.{ttl}.{self._sign(space_id, until, ttl)}"

    def check(self, grant: str, space_id: str, now: float) -> float:
        """The seat lifetime the grant allows; GrantError if it is not genuine, not for this
        space, or past its time."""
        m = GRANT_RE.match(grant)
        if m is None or m["space"] != space_id:
            raise GrantError("bad_grant", "the join grant is malformed or for another space; "
                                          "join through /api/spaces/ID/join")
        until, ttl = int(m["until"]), int(m["ttl"])
        if not hmac.compare_digest(self._sign(space_id, until, ttl), m["sig"]):
            raise GrantError("bad_grant", "the join grant is not genuine")
        if until < now:
            raise GrantError("grant_expired", "the join grant lapsed; read the space's details "
                                              "again for a fresh one")
        return float(ttl)
