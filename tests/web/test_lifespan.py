"""The app's lifespan starts its services in order and stops them in the reverse order, and a
service that fails to start stops everything started before it (one AsyncExitStack)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from townhall.ingest.icecast import IngestServer
from townhall.live.cluster_sync.key_watch import KeyWatch
from townhall.live.joins.grant_admission import GrantAdmission
from townhall.live.registry.hosting import Hosting
from townhall.live.registry.spaces import Spaces
from townhall.live.stage.speakers import Speakers
from townhall.settings import Settings
from townhall.web.app import create_app
from townhall.web.shedding import LagMonitor

SERVICES: dict[str, type] = {"spaces": Spaces, "ingest": IngestServer, "speakers": Speakers,
                             "lag": LagMonitor, "grants": GrantAdmission,
                             "key_watch": KeyWatch, "hosting": Hosting}


def record(monkeypatch: pytest.MonkeyPatch, log: list[str]) -> None:
    """Log every service's start and close, then run the real one."""
    for name, cls in SERVICES.items():
        for method in ("start", "close"):
            real = getattr(cls, method)

            def spy(self: Any, *args: Any, _real: Callable[..., Any] = real,
                    _what: str = f"{method} {name}") -> Any:
                log.append(_what)
                return _real(self, *args)

            monkeypatch.setattr(cls, method, spy)


def settings(tmp_path: Path) -> Settings:
    return Settings.of(data_dir=tmp_path / "data", ingest_port=0, signing=False)


def test_services_stop_in_the_reverse_order_of_their_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[str] = []
    record(monkeypatch, log)
    app = create_app(settings(tmp_path))

    async def run() -> None:
        async with app.router.lifespan_context(app):
            assert [e for e in log if e.startswith("close")] == []

    asyncio.run(run())
    starts = [e.split()[1] for e in log if e.startswith("start")]
    closes = [e.split()[1] for e in log if e.startswith("close")]
    assert starts == list(SERVICES)
    assert closes == starts[::-1]


def test_a_service_that_fails_to_start_stops_everything_started_before_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[str] = []
    record(monkeypatch, log)

    def broken(self: KeyWatch) -> None:
        raise RuntimeError("cannot start")

    monkeypatch.setattr(KeyWatch, "start", broken)
    app = create_app(settings(tmp_path))
    ports: list[int] = []

    async def run() -> None:
        async with app.router.lifespan_context(app):
            pass

    real_close = IngestServer.close

    async def note_port(self: IngestServer) -> None:
        ports.append(self.port)
        await real_close(self)

    monkeypatch.setattr(IngestServer, "close", note_port)
    with pytest.raises(RuntimeError, match="cannot start"):
        asyncio.run(run())
    closes = [e.split()[1] for e in log if e.startswith("close")]
    assert closes == ["grants", "lag", "speakers", "ingest", "spaces"]
    with socket.socket() as s:  # the ingest port was given back
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", ports[0]))
