"""One busy origin: a flagship space's listeners keep playing while other spaces fill the
origin's live quota, and spaces past the quota are refused at the ingest, not carried."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from harness.live_load import Stalls, feed, follow, make_adts
from harness.server import push_tone, start_server, stop_process, stop_server

CEILING = 6  # live programs on this origin, the flagship included


@pytest.mark.slow
@pytest.mark.timing  # real time, measured against a figure: runs alone
def test_flagship_listeners_do_not_stall_while_other_spaces_fill_the_live_quota(
        tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--attack-mode", "off", "--set",
                          f"live_programs_per_origin={CEILING}")
    tone = None
    try:
        flagship = server.create_space(title="flagship")
        others = [server.create_space(title=f"other {i}") for i in range(CEILING + 3)]
        tone = push_tone(flagship["ingest_url"], 60)
        server.wait_on_air(flagship["id"])
        media = server.media_base(flagship["id"]) + "/media.m3u8"
        audio = make_adts(tmp_path / "tone.aac", 30)

        async def scenario() -> tuple[list[int], list[Stalls]]:
            feeds = [asyncio.ensure_future(feed(server.ingest_port, sp["id"], sp["host_key"],
                                                audio, 16)) for sp in others]
            listeners = await asyncio.gather(*[follow(media, 12) for _ in range(3)])
            return list(await asyncio.gather(*feeds)), list(listeners)

        statuses, listeners = asyncio.run(scenario())
        # the origin carried exactly its ceiling: the rest were refused with a clear 503
        assert sorted(statuses).count(200) == CEILING - 1, statuses
        assert statuses.count(503) == 4, statuses
        for stalls in listeners:
            assert stalls.parts >= 30 and not stalls.gaps_over and not stalls.errors, stalls
    finally:
        if tone is not None:
            stop_process(tone)
        stop_server(server)
