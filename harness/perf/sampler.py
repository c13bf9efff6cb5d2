"""Resource sampling from /proc on a target while a workload runs, and the fluctuation of each reading.

A background loop on the target appends /proc/uptime, the `cpu` line of /proc/stat, MemTotal and
MemAvailable, /proc/net/dev and /proc/diskstats to a file every interval. It uses only shell
builtins (`read`, `echo`) plus one `sleep` per round, so on an emulated target, where every exec
is slow, the sampler hardly disturbs what it measures. The controller parses the file afterwards.

Readings (per interval): cpu_util_pct (all CPUs, from jiffies), mem_used_mb (MemTotal -
MemAvailable), disk_mb_s (sectors read + written on whole disks), net_mb_s (bytes received +
sent on every interface, loopback included). In a container or chroot /proc shows the host.
"""

from __future__ import annotations

import itertools
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from harness.core import shell
from harness.perf import stats

WHOLE_DISK = re.compile(r"sd[a-z]+|vd[a-z]+|xvd[a-z]+|hd[a-z]+|nvme\d+n\d+|mmcblk\d+")  # fullmatch

_LOOP = r"""while :; do
read up idle < /proc/uptime; echo "T $up"
{ read l; echo "$l"; } < /proc/stat
while read -r k v u; do case $k in MemTotal:|MemAvailable:) echo "$k $v";; esac; done < /proc/meminfo
while read -r l; do echo "N $l"; done < /proc/net/dev
while read -r l; do echo "D $l"; done < /proc/diskstats
sleep __INTERVAL__
done"""

READINGS = {
    "cpu_util_pct": ("%", "CPU utilisation of all CPUs"),
    "mem_used_mb": ("MB", "memory in use (MemTotal - MemAvailable)"),
    "disk_mb_s": ("MB/s", "disk read + write on whole disks"),
    "net_mb_s": ("MB/s", "network receive + send on all interfaces"),
}


@dataclass
class Snapshot:
    t: float
    cpu_total: int = 0
    cpu_idle: int = 0
    mem_total_kb: int = 0
    mem_avail_kb: int = 0
    net_bytes: int = 0
    disk_sectors: int = 0


@dataclass
class Sampler:
    """`start()` then, in a finally, `stop()`, which returns the per-interval readings."""

    conn: Any
    interval_s: float = 1.0
    path: str = field(default_factory=lambda: f"/tmp/xch-sample-{secrets.token_hex(4)}.txt")
    pid: str = ""

    def start(self) -> None:
        loop = _LOOP.replace("__INTERVAL__", shell.quote(f"{self.interval_s:g}"))
        cmd = f"( {loop} ) > {shell.quote(self.path)} 2>/dev/null & echo $!"
        result = self.conn.run(cmd, timeout=30).check()
        self.pid = result.stdout.strip().splitlines()[-1]

    def stop(self, windows: list[tuple[float, float]] | None = None) -> dict[str, list[float]]:
        """Stop sampling; readings of the intervals that overlap one of `windows` (target uptime
        spans of the runs of interest), or of every interval when no windows are given."""
        if self.pid.isdigit():
            self.conn.run(f"kill {self.pid} 2>/dev/null; true", timeout=30)
        text = self.conn.run(f"cat {shell.quote(self.path)}; rm -f {shell.quote(self.path)}", timeout=60).stdout
        return readings(parse_snapshots(text), windows)


def parse_snapshots(text: str) -> list[Snapshot]:
    """Snapshots from the sampler's file; an incomplete last block (killed mid-write) is dropped."""
    snaps: list[Snapshot] = []
    current: Snapshot | None = None
    complete: list[bool] = []
    for line in text.splitlines():
        if line.startswith("T "):
            try:
                current = Snapshot(t=float(line.split()[1]))
            except (IndexError, ValueError):
                current = None
                continue
            snaps.append(current)
            complete.append(False)
        elif current is None:
            continue
        elif line.startswith("cpu "):
            nums = [int(x) for x in line.split()[1:] if x.isdigit()]
            if len(nums) < 5:
                continue  # torn line
            current.cpu_total = sum(nums[:8])  # user..steal; guest is already inside user
            current.cpu_idle = nums[3] + nums[4]  # idle + iowait
        elif line.startswith("MemTotal:"):
            current.mem_total_kb = int(line.split()[1])
        elif line.startswith("MemAvailable:"):
            current.mem_avail_kb = int(line.split()[1])
        elif line.startswith("N ") and ":" in line:
            fields = line[2:].split(":", 1)[1].split()
            if len(fields) >= 9:
                current.net_bytes += int(fields[0]) + int(fields[8])
        elif line.startswith("D "):
            parts = line.split()
            if len(parts) >= 11 and WHOLE_DISK.fullmatch(parts[3]):
                current.disk_sectors += int(parts[6]) + int(parts[10])
                complete[-1] = True
    # A block is complete when a later block started after it (the writer moved on).
    return [s for i, s in enumerate(snaps) if i < len(snaps) - 1 or complete[i]]


def readings(snaps: list[Snapshot], windows: list[tuple[float, float]] | None = None) -> dict[str, list[float]]:
    """Per-interval rates between consecutive snapshots (only inside `windows` when given)."""
    out: dict[str, list[float]] = {name: [] for name in READINGS}
    for a, b in itertools.pairwise(snaps):
        dt = b.t - a.t
        if dt <= 0:
            continue
        if windows is not None and not any(a.t < hi and lo < b.t for lo, hi in windows):
            continue  # the interval does not overlap any of the runs we want
        total = b.cpu_total - a.cpu_total
        if total > 0:
            out["cpu_util_pct"].append(100.0 * (1 - (b.cpu_idle - a.cpu_idle) / total))
        if b.mem_total_kb:
            out["mem_used_mb"].append((b.mem_total_kb - b.mem_avail_kb) / 1024.0)
        out["disk_mb_s"].append((b.disk_sectors - a.disk_sectors) * 512 / 1e6 / dt)
        out["net_mb_s"].append((b.net_bytes - a.net_bytes) / 1e6 / dt)
    return out


def resource_metrics(series: dict[str, list[float]], prefix: str = "resource") -> list[dict[str, Any]]:
    """Metric records (contract shape, no baseline) for each reading, with its fluctuation."""
    records = []
    for name, values in series.items():
        if not values:
            continue
        unit, what = READINGS[name]
        summary = stats.summarize(values)
        fl = stats.fluctuation(values)
        records.append({
            "name": f"{prefix}.{name}", "unit": unit, "direction": "lower", "kind": "resource",
            "description": what + " sampled from /proc while the workload ran",
            "samples": [round(v, 4) for v in values], "median": summary.median, "iqr": summary.iqr,
            "cv": summary.cv, "min": summary.min, "max": summary.max, "n": summary.n,
            "fluctuation": fl["cv"], "range_ratio": fl["range_ratio"], "value": summary.median,
            "value_ci": None, "repeated": False, "baseline": None,
        })
    return records
