"""What a bench ran on: CPU model and count, kernel, Python and the servers' versions."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    """The machine a measurement was taken on (a tool that is not installed is left out)."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")),
                 platform.processor())
    versions: dict[str, str] = {}
    for name, cmd in (("nginx", ["nginx", "-v"]), ("icecast2", ["icecast2", "-v"]),
                      ("ffmpeg", ["ffmpeg", "-version"])):
        if shutil.which(cmd[0]) is None:
            continue
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        first = (out.stdout + out.stderr).splitlines()
        versions[name] = first[0].strip() if first else ""
    return {"cpus": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
            "python": platform.python_version(), **versions}
