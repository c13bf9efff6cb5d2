"""What machine a benchmark ran on: printed with every set of figures, since figures without it mean little."""

from __future__ import annotations

import datetime as _dt
import os
import platform
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def describe_machine(**extra: str) -> dict[str, str]:
    """Date (UTC), cores, CPU model, memory, kernel and Python, plus what the caller adds."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="minutes"),
        "nproc": str(os.cpu_count()),
        "cpu": cpu_model(),
        "memory_gb": f"{memory:.1f}",
        "kernel": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        **extra,
    }
