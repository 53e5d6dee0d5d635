"""One edge stage for the whole adversarial suite, and its report: per family, how many
spellings were tried and how many held (printed at the end of the run)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.adversarial.report import REPORT
from tests.adversarial.stage import Stage, edge_stage


@pytest.fixture(scope="session")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    root: Path = tmp_path_factory.mktemp("adversarial")
    with edge_stage(root, live_s=120, replay=True) as s:
        yield s


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not REPORT:
        return
    terminalreporter.section("adversarial families (tried, held)")
    width = max(len(f) for f in REPORT)
    for family, (tried, held) in sorted(REPORT.items()):
        terminalreporter.write_line(f"{family:<{width}}  tried {tried:>5}  held {held:>5}")
