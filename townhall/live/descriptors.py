"""File descriptors: what this process may open, and a reserve kept for the recorder.

Service helpers. At start the server raises its soft `RLIMIT_NOFILE` to the hard limit (a
systemd unit's default soft limit is 1,024) and sizes its connection caps from the result, so
that listener-facing sockets run out long before the descriptor table does. A few descriptors
are held open on /dev/null as a reserve: when a recording write fails with EMFILE, the
recorder closes one, writes, and takes it back, so a full table never costs a published
segment. Never on the listener path.
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
from collections.abc import Iterator


def raise_open_files_limit() -> tuple[int, int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns (before, after, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            target = soft
    return soft, max(soft, target), hard


def open_files_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def connection_caps(limit: int, http_cap: int, ingest_cap: int, reserve: int
                    ) -> tuple[int, int]:
    """HTTP and ingest connection caps that fit the descriptor limit: listener-facing
    sockets may take at most 60 % and 10 % of what is left after a margin of 64 for files
    (recordings, the database, logs) and the recorder's reserve."""
    usable = max(16, limit - 64 - reserve)
    return min(http_cap, max(8, usable * 6 // 10)), min(ingest_cap, max(2, usable // 10))


class DescriptorReserve:
    """Descriptors held open for the recorder; `borrow()` frees one for the duration of a
    write. Thread-safe (writes run in worker threads)."""

    def __init__(self) -> None:
        self._fds: list[int] = []
        self._lock = threading.Lock()
        self.borrowed = 0  # writes that needed the reserve, for the operator's metrics

    def fill(self, count: int) -> None:
        with self._lock:
            while len(self._fds) < count:
                try:
                    self._fds.append(os.open(os.devnull, os.O_RDONLY))
                except OSError:
                    break

    @property
    def held(self) -> int:
        return len(self._fds)

    @contextlib.contextmanager
    def borrow(self) -> Iterator[None]:
        """Two descriptors free for one durable write (the file, then its directory)."""
        with self._lock:
            freed = [self._fds.pop() for _ in range(min(2, len(self._fds)))]
            for fd in freed:
                os.close(fd)
            self.borrowed += 1
        try:
            yield
        finally:
            with self._lock:
                for _ in freed:
                    with contextlib.suppress(OSError):
                        self._fds.append(os.open(os.devnull, os.O_RDONLY))

    def close(self) -> None:
        with self._lock:
            for fd in self._fds:
                os.close(fd)
            self._fds.clear()
