"""The edge's per-address limits on pushes spare an origin's relay (every source it relays
comes from its one address), and only a relay that proves itself with the token of the
deployment's edge secret."""

from __future__ import annotations

from pathlib import Path

import httpx

from harness.edge import origin_behind_edge
from townhall.ingest.relay import relay_token

PUSHES = 70  # past the per-address burst (40)


def statuses(url: str, headers: dict[str, str]) -> list[int]:
    with httpx.Client(timeout=10) as client:
        return [client.put(url, content=b"", headers=headers).status_code
                for _ in range(PUSHES)]


def test_a_proven_relay_is_not_rate_limited_by_address_and_a_guess_is(tmp_path: Path) -> None:
    with origin_behind_edge(tmp_path) as (origin, edge):
        space = origin.create_space(title="limits")
        url = f"{edge.url}/ingest/{space['id']}"
        secret = (origin.data_dir / "edge.secret").read_text().strip()
        wrong = {"Authorization": "Bearer not-the-key"}
        relayed = statuses(url, {**wrong, "X-Townhall-Relay": relay_token(secret)})
        assert set(relayed) == {401}, relayed  # every one reached the origin
        guessed = statuses(url, {**wrong, "X-Townhall-Relay": relay_token("guess")})
        assert 429 in guessed, guessed
