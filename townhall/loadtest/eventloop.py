"""The load generator's event loop: uvloop when it is installed, else asyncio's own.

At thousands of requests a second the loop's own machinery (handles, futures, the selector)
is a large share of a simulated request's CPU; uvloop's runs in C and roughly halves it (see
bench/loadgen_cost.py). Every process of the generator (`townhall loadtest`, each worker,
the benchmarks) starts its loop here, so a run measures the same client everywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_name() -> str:
    """The loop `run` uses: "uvloop" or "asyncio"."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run(main) on uvloop when available."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
