"""The simulated player's start-up: it plays once its hold-back window is in hand, so a slow
request during start-up shows as a later first audio, not as a stall. Fake source, no sockets."""

from __future__ import annotations

import asyncio
import time

import pytest

from townhall.loadtest.metrics import Tally
from townhall.loadtest.player import Player
from townhall.loadtest.wire import Response
from townhall.media.playlist import LowLatency, PlaylistSegment, render_media

# real asyncio time at 50 ms parts: a busy neighbour shifts it by tens of ms, so these run alone
pytestmark = pytest.mark.timing
PART = 0.05  # short parts keep the test fast; the timings scale
PPS = 4
SEG = PART * PPS
HOLD_BACK_PARTS = 5


def playlist(done: int, in_progress: int, *, ended: bool = False) -> bytes:
    segs = [PlaylistSegment(m, 1.7e9 + m * SEG, False, [PART] * PPS, SEG) for m in range(done)]
    if in_progress:
        segs.append(PlaylistSegment(done, 1.7e9 + done * SEG, False, [PART] * in_progress))
    ll = LowLatency(part_target=PART, part_hold_back=HOLD_BACK_PARTS * PART,
                    parts_window=3 * SEG)
    return render_media(segs, segment_target=SEG, discontinuity_sequence=0, ended=ended,
                        low_latency=ll).encode()


class Source:
    """Two complete segments and two parts on air, then one more part, then the end. Parts
    take `fast_s` to fetch, those named in `slow` take `slow_s`."""

    def __init__(self, slow: set[str], slow_s: float, fast_s: float = 0.002) -> None:
        self.slow, self.slow_s, self.fast_s = slow, slow_s, fast_s
        self.reloads = 0

    async def media(self, what: str, uri: str, query: str = "") -> Response | None:
        if uri == "master.m3u8":
            return Response(200, {}, b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nmedia.m3u8\n")
        if uri == "media.m3u8":
            self.reloads += 1
            if self.reloads == 1:
                return Response(200, {}, playlist(2, 2))
            await asyncio.sleep(PART)  # a blocking reload: the next part comes out
            return Response(200, {}, playlist(2, 3, ended=self.reloads > 2))
        await asyncio.sleep(self.slow_s if uri in self.slow else self.fast_s)
        return Response(200, {}, b"media")

    def maybe_renew(self) -> None:
        return None


def play(source: Source) -> tuple[Player, Tally]:
    tally = Tally()
    player = Player(source, tally, low_latency=True, preload=False)

    player.joined_at = time.time()
    asyncio.run(player.play())
    return player, tally


def test_a_slow_part_during_start_up_delays_first_audio_instead_of_stalling() -> None:
    # the start position is five parts back: 1.2, 1.3, 2.0, 2.1 (and 1.1); 1.3 takes 3 parts' time
    player, tally = play(Source(slow={"part/1.3.m4s"}, slow_s=3 * PART))
    assert player.playback is not None
    assert tally.stalls == 0
    assert player.ttfa is not None and player.ttfa >= 3 * PART


def test_after_start_up_a_part_later_than_the_buffer_is_a_stall() -> None:
    # the hinted part 2.2 (fetched after the reload) arrives long after the buffer ran dry
    player, tally = play(Source(slow={"part/2.2.m4s"}, slow_s=HOLD_BACK_PARTS * PART + 0.2))
    assert tally.stalls == 1
    assert player.playback is not None
    assert player.playback.stalls[0].seconds == pytest.approx(0.2, abs=0.08)
