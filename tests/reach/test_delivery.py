"""The webhook worker with a real store and real loopback receivers, on a frozen clock:
back-off doubles up to its ceiling, a delivery is given up after a day, a slow receiver
holds only its own queue; and what the space watch turns record changes into."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from townhall.reach.events import SpaceEvent
from townhall.reach.outbox import Outbox
from townhall.reach.space_watch import SpaceWatch
from townhall.reach.webhooks import Webhooks
from townhall.settings import Settings
from townhall.space.lifecycle import Phase
from townhall.space.space_record import SpaceRecord
from townhall.store.reach import ReachStore
from townhall.store.schema import Database, migrate

hosts: list[str] = []  # the Host header each receiver saw


def _receiver(status: int, delay_s: float = 0.0) -> tuple[ThreadingHTTPServer, list[bytes]]:
    got: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(self.rfile.read(int(self.headers["Content-Length"])))
            hosts.append(self.headers["Host"])
            time.sleep(delay_s)
            self.send_response(status)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, got


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ReachStore]:
    db = tmp_path / "t.sqlite3"
    migrate(Database(path=db))
    s = ReachStore(path=db)
    yield s
    s.close()


def _event(n: int, at: float) -> SpaceEvent:
    return SpaceEvent("space.live", f"space{n:05d}", at, "", {"n": n})


def test_backoff_doubles_then_gives_up_and_a_slow_receiver_holds_only_its_own(
        store: ReachStore) -> None:
    now = [1000.0]
    settings = Settings.of(webhook_allow_private=True, webhook_retry_first_s=5,
                        webhook_retry_max_s=20, webhook_give_up_s=60, webhook_timeout_s=5)
    failing, failed_got = _receiver(500)
    slow, slow_got = _receiver(204, delay_s=1.5)
    fast, fast_got = _receiver(204)

    ids: list[str] = []

    async def run() -> Webhooks:
        hooks = Webhooks(settings, store, clock=lambda: now[0])
        hooks.start()
        assert hooks._task is not None
        hooks._task.cancel()  # the test drives the passes itself
        for httpd in (failing, slow, fast):  # by name: delivered to the address checked
            made = await hooks.register("admin", f"http://localhost:{httpd.server_address[1]}/",
                                        ["space.live"])
            ids.append(made.id)
        for n in range(2):
            await hooks.publish(_event(n, 1000.0), "admin")
        waits = []
        await hooks.deliver_due()
        await asyncio.sleep(0.3)  # the fast one is answered while the slow one still waits
        assert len(fast_got) == 1 and len(slow_got) == 1
        await hooks.settle()
        await hooks.deliver_due()
        await hooks.settle()
        assert len(fast_got) == 2 and len(slow_got) == 2  # in order, one after the other
        for _ in range(6):
            (head,) = [d for d in store.heads()]
            waits.append(head.next_at - now[0])
            now[0] = head.next_at
            await hooks.deliver_due()
            await hooks.settle()
        assert waits[:4] == [5.0, 10.0, 20.0, 20.0]  # doubling, then the ceiling
        await hooks.close()
        return hooks

    hooks = asyncio.run(run())
    failing_id = ids[0]
    assert hooks.given_up >= 1
    log = store.attempts(failing_id, 50)
    assert all(a["status"] == 500 and a["error"] == "answered 500" for a in log)
    assert store.pending(failing_id) == 1  # the first was given up; the second waits
    for httpd in (failing, slow, fast):
        httpd.shutdown()
        httpd.server_close()
    assert len(failed_got) == len(log)
    assert hosts and all(h.startswith("localhost:") for h in hosts)  # the name, not the IP


def test_the_watch_turns_record_changes_into_events_once() -> None:
    settings = Settings.of(webhook_peak_every_s=60)
    record = SpaceRecord("abcdefghij", "T", "H", "x", created_at=10.0)
    space = SimpleNamespace(record=record)
    spaces = SimpleNamespace(settings=settings, all=lambda: [space])
    watch = SpaceWatch(spaces, None, None, None, clock=lambda: 0.0)  # type: ignore[arg-type]

    def kinds(now: float) -> list[str]:
        return [e.type for e in watch.events(space, now)]  # type: ignore[arg-type]

    assert kinds(11) == ["space.scheduled"]
    assert kinds(12) == []
    record.phase, record.actual_start, record.peak_listeners = Phase.LIVE, 20.0, 5
    assert kinds(21) == ["space.live", "listeners.peak"]
    record.peak_listeners = 9
    assert kinds(30) == []  # within webhook_peak_every_s: later, if it holds
    assert kinds(90) == ["listeners.peak"]
    record.phase, record.ended_at, record.has_replay = Phase.ENDED, 100.0, True
    assert kinds(101) == ["space.ended", "replay.ready"]
    record.has_replay = False
    assert kinds(200) == []  # replay.withdrawn comes from the withdrawal document (below)
    again = SpaceWatch(spaces, None, None, None)  # type: ignore[arg-type]
    record.has_replay = True
    first = [e.id for e in again.events(space, 300)]  # type: ignore[arg-type]
    assert len(first) == len(set(first)) == 4  # after a restart: the same ids, queued once


def test_a_withdrawal_in_the_store_becomes_one_event_dated_by_it(store: ReachStore) -> None:
    settings = Settings()
    record = SpaceRecord("abcdefghij", "T", "H", "x", created_at=10.0, phase=Phase.ENDED,
                         ended_at=100.0)
    space = SimpleNamespace(record=record)
    doc = {"withdrawn_at": "2026-12-07T18:00:00Z"}
    reads: list[str] = []

    def read(sid: str) -> dict[str, str] | None:
        reads.append(sid)
        return doc

    published: list[SpaceEvent] = []

    async def publish(event: SpaceEvent, owner: str) -> int:
        published.append(event)
        return 1

    spaces = SimpleNamespace(settings=settings, all=lambda: [space],
                             recordings=SimpleNamespace(withdrawal=read))
    hosting = SimpleNamespace(owner_of=lambda sid: "admin")
    watch = SpaceWatch(spaces, hosting, SimpleNamespace(publish=publish),  # type: ignore[arg-type]
                       Outbox(settings, store), clock=lambda: 500.0)

    async def run() -> None:
        await watch.look()
        await watch.look()  # read once per process: a later withdrawal is queued by its origin
        await watch.withdrawn(space, doc)  # type: ignore[arg-type]

    asyncio.run(run())
    assert reads == ["abcdefghij"]
    withdrawn = [e for e in published if e.type == "replay.withdrawn"]
    assert len(withdrawn) == 2 and len({e.id for e in withdrawn}) == 1  # one id: queued once
    assert {e.at for e in withdrawn} == {1796666400.0}
    assert {e.body() for e in withdrawn} == {withdrawn[0].body()}
