"""Synchronous replication, as docs/engines.md tells an operator who must lose no write: the
primary acknowledges a commit only once its replica holds it. Spaces are created as fast as the
origin answers while the primary is stopped hard mid-stream and the replica promoted: every
create the origin acknowledged (201) is there on the new primary, read through the same origin
and straight from the database; creates in between are answered 503 with Retry-After, never
with an error body that hides a lost write."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from harness.server import start_server, stop_server
from tests.store.pg_pair import postgres_pair

pytestmark = pytest.mark.slow
KILL_AFTER_S = 2.0  # creates acknowledged before the kill
PROMOTE_AFTER_S = 2.0  # no primary for this long
LIMITS = [a for k in ("api_rate_per_address", "api_burst_per_address",
                      "spaces_per_hour_per_origin") for a in ("--set", f"{k}=100000")]


def test_no_acknowledged_create_is_lost_when_a_synchronous_primary_dies(tmp_path: Path) -> None:
    with postgres_pair(synchronous=True) as pair:
        # one client creating as fast as it is answered: the API's own rate limits set aside
        origin = start_server(tmp_path / "data", "--database", pair.url, "--migrate",
                              *LIMITS)
        try:
            acknowledged: list[str] = []
            refused: list[str] = []
            stop = threading.Event()

            def create() -> None:
                with httpx.Client(timeout=15) as client:
                    n = 0
                    while not stop.is_set():
                        n += 1
                        res = client.post(f"{origin.base_url}/api/spaces",
                                          json={"title": f"sync {n}", "host": "h"},
                                          headers=origin.hosting_headers(None))
                        if res.status_code == 201:
                            acknowledged.append(res.json()["id"])
                        else:
                            assert res.status_code == 503, res.text
                            assert int(res.headers["retry-after"]) >= 1
                            refused.append(res.json()["error"])
                            stop.wait(0.1)

            writer = threading.Thread(target=create, daemon=True)
            writer.start()
            time.sleep(KILL_AFTER_S)
            before = len(acknowledged)
            pair.kill_primary()
            time.sleep(PROMOTE_AFTER_S)
            pair.promote()
            deadline = time.monotonic() + 20
            while len(acknowledged) <= before + 5 and time.monotonic() < deadline:
                time.sleep(0.2)  # writes go on on the new primary
            stop.set()
            writer.join(20)
            print(f"{len(acknowledged)} creates acknowledged ({before} before the kill), "
                  f"{len(refused)} refused while no primary: {sorted(set(refused))}")
            assert before >= 5 and len(acknowledged) > before + 5
            assert refused and set(refused) <= {"store_unavailable"}
            with psycopg.connect(pair.replica.url(pair.database), autocommit=True) as conn:
                stored = {row[0] for row in conn.execute("SELECT id FROM spaces")}
            lost = [sid for sid in acknowledged if sid not in stored]
            assert lost == [], f"{len(lost)} acknowledged creates lost: {lost[:5]}"
            for sid in acknowledged[before - 3:before + 3]:  # the ones around the kill
                assert httpx.get(f"{origin.base_url}/api/spaces/{sid}",
                                 timeout=10).status_code == 200
        finally:
            stop_server(origin)
