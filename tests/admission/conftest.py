"""The waiting-room tests run against both `Room` backends: `rooms` is parametrized over this
process's room and the cluster's in a real redis-server (started once per session)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cluster import Redis
from harness.server import free_port
from tests.admission.room_backends import Rooms


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    server = Redis(free_port(), Path(tmp_path_factory.mktemp("room-redis")))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["local", "redis"])
def rooms(request: pytest.FixtureRequest) -> Iterator[Rooms]:
    url = None
    if request.param == "redis":
        url = request.getfixturevalue("redis_server").url
    made = Rooms(request.param, url)
    try:
        yield made
    finally:
        made.close()
