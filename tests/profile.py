"""Where the suite's time goes: with TOWNHALL_TEST_PROFILE=FILE, every test's wall seconds,
the machine's busy CPU seconds while it ran (from /proc/stat, all processes: on a quiet machine
that is the test's own demand) and the CPU seconds of this process and the children it reaped,
appended to FILE as JSON lines. scripts/test-profile sums them."""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Generator
from pathlib import Path

import pytest

TICKS = os.sysconf("SC_CLK_TCK")


def _busy_s() -> tuple[float, float]:
    """CPU seconds the whole machine spent not idle since boot, and of them at a nice priority
    (scripts/test runs the tests beside the timing ones at nice 19)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / TICKS, fields[1] / TICKS


def _own_s() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    out = os.environ.get("TOWNHALL_TEST_PROFILE")
    if not out:
        yield
        return
    wall, (busy, niced), own = time.monotonic(), _busy_s(), _own_s()
    yield
    busy1, niced1 = _busy_s()
    row = {"test": item.nodeid, "wall_s": round(time.monotonic() - wall, 2),
           "machine_cpu_s": round(busy1 - busy, 2), "niced_cpu_s": round(niced1 - niced, 2),
           "own_cpu_s": round(_own_s() - own, 2),
           "timing": item.get_closest_marker("timing") is not None}
    with open(out, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def main(path: str) -> None:
    """Prints each group's totals and its 25 longest tests."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line]
    for timing in (True, False):
        group = sorted((r for r in rows if r["timing"] is timing), key=lambda r: -r["wall_s"])
        wall = sum(r["wall_s"] for r in group)
        cpu = sum(r["machine_cpu_s"] for r in group)
        niced = sum(r.get("niced_cpu_s", 0.0) for r in group)
        print(f"{'timing' if timing else 'other'}: {len(group)} tests, {wall:.0f} s wall, "
              f"{cpu:.0f} machine CPU s ({cpu / max(wall, 1e-9):.2f} cores while they ran, "
              f"{niced / max(wall, 1e-9):.2f} of them niced)")
        for r in group[:25]:
            w = max(r["wall_s"], 1e-9)
            print(f"  {r['wall_s']:6.1f} s  {r['machine_cpu_s'] / w:4.2f} cores "
                  f"({r.get('niced_cpu_s', 0.0) / w:4.2f} niced)  {r['test']}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1])
