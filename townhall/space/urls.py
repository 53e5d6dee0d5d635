"""A space's public addresses: its page, its live playlist and, once ended, its replay.

Core: a pure function of the deployment's base URL and the space's record; no I/O.
"""

from __future__ import annotations

from typing import Any

from townhall.space.lifecycle import Phase
from townhall.space.space_record import SpaceRecord


def space_urls(base_url: str, record: SpaceRecord) -> dict[str, Any]:
    sid = record.id
    ended = record.phase is Phase.ENDED and record.has_replay
    return {
        "page_url": f"{base_url}/spaces/{sid}",
        "playlist_url": f"{base_url}/live/{sid}/master.m3u8",
        "replay_url": f"{base_url}/replay/{sid}/media.m3u8" if ended else None,
        "replay_download_url": f"{base_url}/replay/{sid}.m4a" if ended else None,
    }
