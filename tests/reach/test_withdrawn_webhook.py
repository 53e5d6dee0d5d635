"""replay.withdrawn reaches a real receiver once, signed, however the withdrawal was made: by
an origin killed right after it answered (alone, or in a cluster on the origin that never
held the space), by an origin of a cluster killed after it stored the withdrawal and before
it queued the event (no origin restarts: the other takes the announcement from the outbox),
or written while no origin was running (then the next origin to start reads it); restarts
after that send nothing more."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from harness.cluster import cluster, wait_for
from harness.server import Server, free_port, push_tone, start_server, stop_server
from tests.reach.test_webhooks import FLAGS, Receiver, _wait
from townhall.reach import signature
from townhall.reach.space_watch import withdrawn_at
from townhall.recording import withdrawal
from townhall.settings import Settings
from townhall.store.factory import open_stores

pytestmark = pytest.mark.slow


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(free_port())
    r.start()
    try:
        yield r
    finally:
        r.stop()


def _with_replay(srv: Server, title: str) -> dict[str, str]:
    doc = srv.create_space(title=title)
    assert push_tone(doc["ingest_url"], 4, 500).wait(60) == 0
    assert srv.end_space(doc).status_code == 200
    return doc


def _withdrawn(receiver: Receiver) -> list[tuple[dict[str, str], bytes]]:
    return [(h, b) for _, h, b in receiver.got if json.loads(b)["type"] == "replay.withdrawn"]


def test_a_withdrawal_is_delivered_once_signed_after_a_kill_or_made_while_no_origin_ran(
        tmp_path: Path, receiver: Receiver) -> None:
    data = tmp_path / "data"
    srv = start_server(data, *FLAGS)
    try:
        made = httpx.post(f"{srv.base_url}/api/webhooks", headers=srv.hosting_headers(),
                          timeout=10, json={"url": f"http://127.0.0.1:{receiver.port}/hook",
                                            "events": ["replay.withdrawn"]})
        assert made.status_code == 201, made.text
        secret = made.json()["secret"]
        killed = _with_replay(srv, "Withdrawn, then the origin is killed")
        offline = _with_replay(srv, "Withdrawn while no origin runs")
        # the origin that takes the withdrawal is killed the moment it has answered
        res = httpx.delete(f"{srv.base_url}/api/spaces/{killed['id']}/replay", timeout=30,
                           headers={"Authorization": f"Bearer {killed['host_key']}"})
        assert res.status_code == 200, res.text
        srv.process.send_signal(signal.SIGKILL)
        srv.process.wait(10)
    finally:
        stop_server(srv)
    # a withdrawal written while no origin runs (an origin that stored it and died before
    # anything else): only the store knows
    stores = open_stores(Settings.of(data_dir=data))
    try:
        manifest = stores.recordings.manifest(offline["id"])
        assert manifest is not None
        doc = withdrawal.make(manifest, time.time(), None)
        stores.recordings.put_withdrawal(offline["id"], doc)
    finally:
        stores.close()

    for _ in range(2):  # the second restart must send nothing more
        srv = start_server(data, *FLAGS)
        try:
            _wait(lambda: len(_withdrawn(receiver)) >= 2, 30, "both withdrawals")
            time.sleep(2.0)  # several looks of the watch and the queue: nothing more
        finally:
            stop_server(srv)
        got = _withdrawn(receiver)
        assert sorted(json.loads(b)["data"]["space_id"] for _, b in got) == sorted(
            [killed["id"], offline["id"]])
    for headers, body in got:
        assert signature.verify(secret, headers, body, time.time()), headers
        event = json.loads(body)
        assert event["data"]["replay_download_url"] is None
        if event["data"]["space_id"] == offline["id"]:  # dated by the withdrawal itself
            stamp = int(headers["webhook-timestamp"])
            assert abs(withdrawn_at({"withdrawn_at": event["timestamp"]}, 0)
                       - withdrawn_at(doc, 0)) < 1, (event, doc, stamp)


def test_in_a_cluster_a_withdrawal_on_an_origin_killed_after_it_answered_is_delivered_once(
        tmp_path: Path, pg_url: str, receiver: Receiver) -> None:
    """Two origins on PostgreSQL and Redis: the replay is withdrawn on the origin that never
    held the space, which is killed the moment it answers; the other origin delivers the
    event from the shared queue, once, and the killed one's restart adds nothing."""
    with cluster(tmp_path, 2, free_port(), *FLAGS, database=pg_url) as c:
        a, b = c.origins
        made = httpx.post(f"{a.base_url}/api/webhooks", headers=a.hosting_headers(),
                          timeout=10, json={"url": f"http://127.0.0.1:{receiver.port}/hook",
                                            "events": ["replay.withdrawn"]})
        assert made.status_code == 201, made.text
        doc = _with_replay(a, "Withdrawn on the other origin")
        wait_for(lambda: httpx.get(f"{b.base_url}/replay/{doc['id']}.m4a",
                                   timeout=30).status_code == 200, 30, "the replay on b")
        res = httpx.delete(f"{b.base_url}/api/spaces/{doc['id']}/replay", timeout=30,
                           headers={"Authorization": f"Bearer {doc['host_key']}"})
        assert res.status_code == 200, res.text
        b.process.send_signal(signal.SIGKILL)
        b.process.wait(10)
        _wait(lambda: len(_withdrawn(receiver)) >= 1, 30, "the withdrawal, from origin a")
        c.restart_origin("b", b)
        time.sleep(3.0)  # both origins look and deliver: nothing more
        (headers, body), = _withdrawn(receiver)
        assert signature.verify(made.json()["secret"], headers, body, time.time())
        assert json.loads(body)["data"]["space_id"] == doc["id"]


def test_in_a_cluster_a_withdrawal_stored_by_an_origin_killed_before_it_queued_the_event_is_delivered_once(  # noqa: E501
        tmp_path: Path, pg_url: str, receiver: Receiver) -> None:
    """Two origins on PostgreSQL and Redis, none restarted: origin b stores the withdrawal
    and, before it can queue the event, is killed (it waits on a lock this test holds on the
    endpoints table, then SIGKILL). Its hold on the announcement lapses; origin a takes it
    from the outbox, derives the event from the stored withdrawal and delivers it once."""
    with cluster(tmp_path, 2, free_port(), *FLAGS, "--set", "webhook_hold_s=2",
                 "--log-level", "info", database=pg_url) as c:
        a, b = c.origins
        made = httpx.post(f"{a.base_url}/api/webhooks", headers=a.hosting_headers(),
                          timeout=10, json={"url": f"http://127.0.0.1:{receiver.port}/hook",
                                            "events": ["replay.withdrawn"]})
        assert made.status_code == 201, made.text
        doc = _with_replay(a, "Withdrawn by an origin that dies before it queues the event")
        wait_for(lambda: httpx.get(f"{b.base_url}/replay/{doc['id']}.m4a",
                                   timeout=30).status_code == 200, 30, "the replay on b")

        def stored() -> bool:
            with psycopg.connect(pg_url, autocommit=True) as look:
                row = look.execute("SELECT withdrawal IS NOT NULL FROM recordings WHERE "
                                   "space_id = %s", (doc["id"],)).fetchone()
            return bool(row and row[0])

        def withdraw() -> None:
            with contextlib.suppress(httpx.HTTPError):  # b is killed before it answers
                httpx.delete(f"{b.base_url}/api/spaces/{doc['id']}/replay", timeout=30,
                             headers={"Authorization": f"Bearer {doc['host_key']}"})

        with psycopg.connect(pg_url) as lock:  # one transaction, held until the rollback
            lock.execute("LOCK TABLE webhook_endpoints IN ACCESS EXCLUSIVE MODE")
            asking = threading.Thread(target=withdraw)
            asking.start()
            wait_for(stored, 20, "the withdrawal stored by b")
            b.process.send_signal(signal.SIGKILL)
            b.process.wait(10)
            lock.rollback()
        asking.join(30)
        _wait(lambda: len(_withdrawn(receiver)) >= 1, 30, "the withdrawal, from origin a")
        time.sleep(2.0)  # several looks of a's watch and queue: nothing more
        (headers, body), = _withdrawn(receiver)
        assert signature.verify(made.json()["secret"], headers, body, time.time())
        event = json.loads(body)
        assert event["data"]["space_id"] == doc["id"]
        assert event["data"]["replay_download_url"] is None
        assert "recovered from the store" in a.log(), a.log()[-3000:]
