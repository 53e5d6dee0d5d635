"""A WebRTC speaker for the cluster tests: the aiortc WHIP client (tests/speakers) publishing
a tone through the edge, on its own event loop in a thread, so a synchronous test can kill
origins and read playlists meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import threading

from harness.whip_client import WhipClient


class SpeakerThread(threading.Thread):
    """Publishes `freq` with `token` to `base_url`/whip/<space> until `close()`."""

    def __init__(self, base_url: str, space_id: str, token: str, freq: float) -> None:
        super().__init__(daemon=True)
        self.client = WhipClient(base_url, space_id, token, freq)
        self.published = threading.Event()
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done: asyncio.Event | None = None

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._done = asyncio.Event()
        try:
            await self.client.publish()
            await self.client.wait_connected(20)
            self.published.set()
            await self._done.wait()
        except BaseException as exc:  # reported to the test
            self.error = exc
            self.published.set()
        finally:
            await self.client.close()

    def wait_published(self, timeout: float) -> None:
        assert self.published.wait(timeout), "the speaker did not publish in time"
        assert self.error is None, repr(self.error)

    def close(self) -> None:
        if self._loop is not None and self._done is not None and self.is_alive():
            with contextlib.suppress(RuntimeError):  # its loop ended meanwhile
                self._loop.call_soon_threadsafe(self._done.set)
        self.join(15)
