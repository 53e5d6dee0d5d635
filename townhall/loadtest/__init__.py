"""The load generator: simulated listeners and attackers against a loopback deployment.

Programmatic use: `report = await run_load(LoadConfig(target=..., space=...))`. Refuses any
target off loopback (`safety`), bounds every run in time and count, and stops by itself.
Modules: safety, addresses, wire, http, playlist, playback, metrics, admission, config,
listener, player, attackers, runner, report, plots, progress, workers, eventloop, cli.
"""

from townhall.loadtest.config import ATTACK_PATTERNS, LoadConfig
from townhall.loadtest.metrics import Second
from townhall.loadtest.report import LoadReport
from townhall.loadtest.runner import run_load
from townhall.loadtest.safety import NotLoopback, check_target

__all__ = ["ATTACK_PATTERNS", "LoadConfig", "LoadReport", "NotLoopback", "Second",
           "check_target", "run_load"]
