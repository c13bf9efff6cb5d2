#!/usr/bin/env python3
"""How xch's cost grows with the fleet: 1, 4, 16, 32 targets, serially and with -n, in one run.

A fleet of extra sshds chrooted into the lab's amd64 image (tests/support/labfleet.py) stands in for the
machines: on loopback addresses 127.0.1.K by default, or each in a network namespace of its own
with --netns. For every fleet size, suite and worker count the real CLI runs once:

    xch run --suite SUITE --inventory <first K members> [-n N] --run-dir <tmp> --json

and the script prints, side by side: wall time; speed-up of -n N over the serial run of the same
size; the controller's CPU time (user+sys of `xch run`, pytest and its xdist workers, from
wait4's rusage); its memory (ru_maxrss = the largest single process, and the peak RSS summed
over the whole process tree, sampled every 50 ms with psutil); the CPU the targets' sshds and
shells spent (they run on this same machine); and every figure per target and as a ratio to the
1-target run; and, since a shared machine is rarely idle, the CPU everything else on it used
meanwhile (busy CPU time from /proc/stat minus the two above). Nothing is asserted: these are measurements. See benchmarks/README.md.

    .venv/bin/python benchmarks/fleet.py [--sizes 1,4,16,32] [--suites smoke,quick30]
        [--workers 0,2,4] [--repeat 3] [--netns] [--json FILE] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
from machine import describe_machine  # benchmarks/machine.py, beside this script
from tabulate import tabulate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "support"))

from labfleet import LabFleet  # noqa: E402  (tests/support/labfleet.py: the fleet the fault tests use too)

SUITES = {
    "smoke": "smoke",
    "quick30": str(ROOT / "tests" / "integration" / "fault_suites" / "test_quick30.py"),
}
XCH = [sys.executable, "-m", "harness.cli"]


@dataclass
class Measure:
    suite: str
    targets: int
    workers: int
    checks: int
    passed: int
    exit_code: int
    wall_s: float
    cpu_s: float  # controller: xch run + pytest + xdist workers (user + sys)
    maxrss_mb: float  # largest single controller process
    tree_rss_mb: float  # peak of the summed RSS of the controller's process tree
    target_cpu_s: float  # the fleet's sshds and shells, same machine
    other_cpu_s: float  # everything else the machine ran meanwhile (other users' load)


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and its descendants until stopped; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._halt.is_set():
            total = 0
            try:
                for proc in [root, *root.children(recursive=True)]:
                    try:
                        total += proc.memory_info().rss
                    except psutil.NoSuchProcess:
                        pass
            except psutil.NoSuchProcess:
                return
            self.peak = max(self.peak, total)
            self._halt.wait(self.interval)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return self.peak


def run_once(fleet: LabFleet, suite: str, size: int, workers: int, workdir: Path) -> Measure:
    """One `xch run` of `suite` on the first `size` members, measured."""
    workdir.mkdir(parents=True, exist_ok=True)
    inv = fleet.inventory(workdir / f"fleet-{size}.toml", fleet.members[:size])
    run_dir = workdir / f"run-{suite}-{size}-n{workers}"
    cmd = [*XCH, "run", "--suite", SUITES[suite], "--inventory", str(inv), "--run-dir", str(run_dir), "--json"]
    if workers:
        cmd += ["-n", str(workers)]
    target_cpu_before = fleet.target_cpu_s()
    busy_before = _busy_cpu_s()
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    sampler = TreeSampler(proc.pid)
    sampler.start()
    stdout = proc.stdout.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak = sampler.stop()
    target_cpu = fleet.target_cpu_s() - target_cpu_before
    other = _busy_cpu_s() - busy_before - target_cpu - (usage.ru_utime + usage.ru_stime)
    try:
        totals = json.loads(stdout)["totals"]
    except (ValueError, KeyError):
        totals = {}
    return Measure(suite=suite, targets=size, workers=workers, checks=sum(totals.values()),
                   passed=totals.get("passed", 0), exit_code=proc.returncode, wall_s=wall,
                   cpu_s=usage.ru_utime + usage.ru_stime, maxrss_mb=usage.ru_maxrss / 1024,
                   tree_rss_mb=peak / 2**20, target_cpu_s=target_cpu, other_cpu_s=max(0.0, other))


def _busy_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy (all CPUs, not idle or iowait)."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)


def median_of(runs: list[Measure]) -> Measure:
    """Field-wise median of repeated runs of one configuration (outcomes: the worst run's)."""
    def med(values: list[float]) -> float:
        ordered = sorted(values)
        mid = len(ordered) // 2
        return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2

    worst = min(runs, key=lambda m: (m.passed - m.checks, -m.exit_code))
    return Measure(suite=worst.suite, targets=worst.targets, workers=worst.workers, checks=worst.checks,
                   passed=worst.passed, exit_code=max(m.exit_code for m in runs),
                   **{f: med([getattr(m, f) for m in runs])
                      for f in ("wall_s", "cpu_s", "maxrss_mb", "tree_rss_mb", "target_cpu_s", "other_cpu_s")})


def machine() -> dict[str, str]:
    return describe_machine()


def report(results: list[Measure]) -> str:
    """The table: every run, its speed-up over serial, and its growth over the 1-target run."""
    by_key = {(m.suite, m.targets, m.workers): m for m in results}
    rows = []
    for m in results:
        serial = by_key.get((m.suite, m.targets, 0))
        one = by_key.get((m.suite, min(s for (su, s, w) in by_key if su == m.suite and w == m.workers), m.workers))
        ok = "yes" if m.passed == m.checks and m.checks and m.exit_code == 0 else f"NO (exit {m.exit_code})"
        rows.append({
            "suite": m.suite, "targets": m.targets, "-n": m.workers or "serial", "checks": m.checks, "all passed": ok,
            "wall s": f"{m.wall_s:.2f}",
            "speed-up": f"{serial.wall_s / m.wall_s:.2f}x" if serial and m.workers else "",
            "wall/target s": f"{m.wall_s / m.targets:.3f}",
            "ms/check": f"{1000 * m.wall_s / max(m.checks, 1):.1f}",
            "wall vs 1": f"{m.wall_s / one.wall_s:.1f}x" if one else "",
            "ctl CPU s": f"{m.cpu_s:.2f}",
            "CPU/target s": f"{m.cpu_s / m.targets:.3f}",
            "CPU vs 1": f"{m.cpu_s / one.cpu_s:.1f}x" if one else "",
            "max RSS MB": f"{m.maxrss_mb:.0f}",
            "tree RSS MB": f"{m.tree_rss_mb:.0f}",
            "RSS vs 1": f"{m.tree_rss_mb / one.tree_rss_mb:.2f}x" if one and one.tree_rss_mb else "",
            "target CPU s": f"{m.target_cpu_s:.2f}",
            "other load CPU s": f"{m.other_cpu_s:.2f}",
        })
    return tabulate(rows, headers="keys", tablefmt="github", disable_numparse=True)


def growth(results: list[Measure]) -> list[str]:
    """Least-squares fixed + per-target cost for each (suite, workers): wall = a + b * targets."""
    lines = []
    for suite in dict.fromkeys(m.suite for m in results):
        for workers in dict.fromkeys(m.workers for m in results):
            pts = [(m.targets, m.wall_s, m.cpu_s, m.tree_rss_mb) for m in results
                   if m.suite == suite and m.workers == workers]
            if len(pts) < 2:
                continue
            fits = [_fit([(x, y[i]) for x, *y in pts]) for i in range(3)]
            lines.append(f"{suite}, {'-n ' + str(workers) if workers else 'serial'}: wall ≈ {fits[0][0]:.2f} s + "
                         f"{fits[0][1] * 1000:.0f} ms/target; controller CPU ≈ {fits[1][0]:.2f} s + "
                         f"{fits[1][1] * 1000:.0f} ms/target; tree RSS ≈ {fits[2][0]:.0f} MB + "
                         f"{fits[2][1]:.2f} MB/target")
    return lines


def _fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0
    return my - slope * mx, slope


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1,4,16,32", help="fleet sizes, comma-separated (default 1,4,16,32)")
    ap.add_argument("--suites", default="smoke,quick30", help=f"suites among {', '.join(SUITES)}")
    ap.add_argument("--workers", default="0,2,4", help="worker counts for -n; 0 = serial (default 0,2,4)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of every configuration, interleaved; the median is reported (default 3)")
    ap.add_argument("--netns", action="store_true",
                    help="put every member in its own network namespace (veth + 10.213.X.0/30) instead of loopback")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON to FILE")
    ap.add_argument("--keep", metavar="DIR", help="keep the run folders and inventories in DIR")
    args = ap.parse_args(argv)
    try:
        sizes = sorted({int(s) for s in args.sizes.split(",")})
        workers = [int(w) for w in args.workers.split(",")]
    except ValueError:
        ap.error("--sizes and --workers take comma-separated integers")
    suites = [s.strip() for s in args.suites.split(",")]
    if unknown := [s for s in suites if s not in SUITES]:
        ap.error(f"--suites: unknown {', '.join(unknown)} (known: {', '.join(SUITES)})")
    if os.geteuid() != 0:
        print("fleet.py needs root (it starts sshds in the lab image and, with --netns, namespaces)", file=sys.stderr)
        return 2

    signal.signal(signal.SIGTERM, _interrupt)
    info = machine()
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="xch-fleet-bench-"))
    results: list[Measure] = []
    begun = time.perf_counter()
    try:
        print(f"starting {max(sizes)} sshd(s) in the lab's amd64 image"
              + (" (one network namespace each)" if args.netns else " on 127.0.1.x"), file=sys.stderr)
        with LabFleet(max(sizes), workdir, netns=set(range(max(sizes))) if args.netns else set()) as fleet:
            # Warm-up (untimed): first imports, page cache, the sshds' first sessions.
            for suite in suites:
                run_once(fleet, suite, min(sizes), 0, workdir / "warmup")
            samples: dict[tuple[str, int, int], list[Measure]] = {}
            for round_ in range(1, args.repeat + 1):
                for size in sizes:
                    for suite in suites:
                        for n in workers:
                            m = run_once(fleet, suite, size, n, workdir / f"r{round_}")
                            samples.setdefault((suite, size, n), []).append(m)
                            print(f"  [{round_}/{args.repeat}] {suite:8} targets={size:3} -n {n}: {m.wall_s:6.2f} s wall, "
                                  f"{m.cpu_s:6.2f} s CPU, {m.passed}/{m.checks} passed", file=sys.stderr)
            results = [median_of(ms) for ms in samples.values()]
    except KeyboardInterrupt:
        print("interrupted: the fleet was stopped and removed", file=sys.stderr)
        return 130
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    print(f"\nFleet benchmark (median of {args.repeat}), {info['date']}: {info['nproc']} CPUs ({info['cpu']}), {info['memory_gb']} GB, "
          f"{info['kernel']}, Python {info['python']}; fleet on {'network namespaces' if args.netns else 'loopback'}; "
          f"total {time.perf_counter() - begun:.0f} s\n")
    print(report(results))
    print("\nGrowth with the target count (least squares over the sizes):")
    for line in growth(results):
        print("  " + line)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "netns": args.netns,
                                               "repeat": args.repeat,
                                               "results": [asdict(m) for m in results]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
