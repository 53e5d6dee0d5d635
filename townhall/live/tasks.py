"""Stopping a service's background tasks: cancel them all, then wait until each has ended.

Core helper for the live services' `close()` (cluster watch, shared stage, counts, news,
source claims, leases). A task that ended by being cancelled is the expected end; any
other exception it raised is raised here, as awaiting it would.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel(*tasks: asyncio.Task[Any] | None) -> None:
    live = [t for t in tasks if t is not None]
    for task in live:
        task.cancel()
    for task in live:
        with contextlib.suppress(asyncio.CancelledError):
            await task
