#!/usr/bin/env python3
"""Where the time of one certification goes: compat per target, then perf and migration with the
product deployed on one target at a time.

Runs `xch certify PRODUCT --targets SEL` once (default: products/redis-server on the lab, which asks
for perf and migration) and prints, from its run folder: wall time, the sum of check durations per
suite and target, deploy times (install, start) per sub-run, and the share of the wall time each
phase took. Run it on a quiet machine; nothing here asserts a figure. On the built-in lab the arm64
timings are qemu-user emulation, not ARM silicon.

    .venv/bin/python benchmarks/certify.py [--product products/redis-server] [--targets lab=true]
        [--inventory targets/lab.toml] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from machine import describe_machine  # benchmarks/machine.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness import runs  # noqa: E402


def certify(product: str, targets: str, inventory: list[str], run_dir: Path) -> tuple[float, int]:
    cmd = [sys.executable, "-m", "harness.cli", "certify", product, "--targets", targets, "--run-dir", str(run_dir),
           "--json"]
    for f in inventory:
        cmd += ["--inventory", f]
    began = time.monotonic()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - began
    if done.returncode not in (0, 1):
        sys.exit(f"certify failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return wall, done.returncode


def phases(run_dir: Path) -> dict[str, object]:
    """Check time per suite x target from the certification's records; deploy times from run.json."""
    records = runs.latest_records(runs.read_results(run_dir).records)
    by_phase: dict[str, float] = defaultdict(float)
    for r in records:
        by_phase[f"{r.get('suite', 'compat')} on {r['target']}"] += float(r.get("duration_s") or 0)
    deploys = [{"suite": s["suite"], "target": s["target"], "install_s": (s.get("deploy") or {}).get("install_s"),
                "start_s": (s.get("deploy") or {}).get("start_s")}
               for s in runs.load_run(run_dir).get("certify", {}).get("sub_runs", [])]
    return {"checks_s": {k: round(v, 1) for k, v in sorted(by_phase.items())}, "deploys": deploys}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--product", default="products/redis-server")
    ap.add_argument("--targets", default="lab=true")
    ap.add_argument("--inventory", action="append", default=[])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="xch-bench-certify-") as tmp:
        run_dir = Path(tmp) / "run"
        wall, rc = certify(args.product, args.targets, args.inventory, run_dir)
        found = phases(run_dir)
    result = {"machine": describe_machine(), "product": args.product, "targets": args.targets,
              "wall_s": round(wall, 1), "exit_code": rc, **found}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"machine: {result['machine']}")
    print(f"certify {args.product} on {args.targets}: {wall:.1f} s wall (exit {rc})")
    for phase, seconds in found["checks_s"].items():
        print(f"  {phase:<28} {seconds:7.1f} s of checks  ({seconds / wall:5.1%} of the wall time)")
    for d in found["deploys"]:
        print(f"  deploy for {d['suite']} on {d['target']}: install {d['install_s']} s, start {d['start_s']} s")
    rest = wall - sum(found["checks_s"].values())
    print(f"  outside checks (pytest start-up, facts, deploy, bundles): {rest:.1f} s ({rest / wall:.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
