"""One real `townhall serve` per module for the speaker tests: ICE on 127.0.0.1, cap of 3."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.server import Server, start_server, stop_server

SPEAKER_CAP = 3


@pytest.fixture(scope="module")
def stage_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("stage") / "data",
                       "--set", "ice_host_addresses=127.0.0.1",
                       "--set", "whip_candidate_networks=127.0.0.0/8",
                       "--set", f"speaker_cap={SPEAKER_CAP}")
    try:
        yield srv
    finally:
        stop_server(srv)
