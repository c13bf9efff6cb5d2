#!/usr/bin/env python3
"""What the system lab costs and how fast its machines are, next to the chroot lab and the host, in one run.

Figures, side by side:

  image build      seconds of each VM image's build, as recorded in its image.json when it was built
                   (mmdebstrap, then mkfs.ext4 -d + qemu-img); --rebuild builds both again first (minutes)
  boot to SSH      `xch lab reset NAME` per VM: stop, fresh overlay, boot, until sshd answers
  per command      median of N `true` on xch's persistent SSH transport, per target (VMs and chroots)
  CPU and memory   one micro-benchmark (a Python loop, sha256 of 8 MB, a 64 MB memory copy) on vm-arm64 (TCG),
                   lab-arm64 (qemu-user), vm-x86 (TCG or KVM) and natively on the host, with each one's
                   ratio to native

Nothing is asserted: these are measurements. Timings of emulated machines are emulation, not silicon.

    .venv/bin/python benchmarks/vm_lab.py [--count 50] [--no-boot] [--rebuild] [--json [FILE]]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from machine import describe_machine  # benchmarks/machine.py, beside this script
from tabulate import tabulate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.inventory import load_inventory  # noqa: E402
from harness.lab.vm import vm_reset, vm_rm, vm_up  # noqa: E402
from harness.lab.vm.control import vm_dir  # noqa: E402
from harness.lab.vm.image import read_image_info  # noqa: E402
from harness.lab.vm.spec import VM_TARGETS  # noqa: E402
from harness.transport import open_connection  # noqa: E402

# The same program everywhere: best of 3 for each part, in seconds.
MICRO = r"""
import hashlib, json, time
def best(f, n=3):
    out = []
    for _ in range(n):
        t = time.perf_counter(); f(); out.append(time.perf_counter() - t)
    return min(out)
def loop():
    x = 0
    for i in range(300000):
        x += i * i % 7
data = b"x" * (8 << 20)
big = bytearray(64 << 20)
def copy():
    bytes(big)
print(json.dumps({"python_loop": best(loop), "sha256_8mb": best(lambda: hashlib.sha256(data).digest()),
                  "memcopy_64mb": best(copy)}))
"""

TARGETS = ("vm-arm64", "lab-arm64", "vm-x86", "lab-x86")


def _inventories() -> tuple[object, object]:
    return (load_inventory([ROOT / "targets" / "lab-vm.toml"]), load_inventory([ROOT / "targets" / "lab.toml"]))


def _connection(name: str):
    for inventory in _inventories():
        for target in inventory.targets:
            if target.name == name:
                conn = open_connection(target, inventory)
                conn.connect()
                return conn
    raise SystemExit(f"no target {name}: bring the labs up (`xch lab up`, `xch lab up --vm`)")


def per_command(name: str, count: int) -> float:
    conn = _connection(name)
    try:
        for _ in range(3):
            conn.run("true", 60)
        samples = []
        for _ in range(count):
            started = time.perf_counter()
            result = conn.run("true", 60)
            samples.append(time.perf_counter() - started)
            assert result.rc == 0, result.stderr
        return statistics.median(samples)
    finally:
        conn.close()


def micro_remote(name: str) -> dict[str, float]:
    conn = _connection(name)
    try:
        result = conn.run("python3 -c " + "'" + MICRO.replace("'", "'\"'\"'") + "'", 1800)
        if result.rc != 0:
            raise SystemExit(f"micro-benchmark failed on {name}: {result.stderr[-500:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        conn.close()


def micro_native() -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", MICRO], capture_output=True, text=True, check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=50, help="timed `true` commands per target (default 50)")
    parser.add_argument("--no-boot", action="store_true", help="skip the boot-to-SSH figures (no VM reset)")
    parser.add_argument("--rebuild", action="store_true", help="delete and build both VM images first")
    parser.add_argument("--json", nargs="?", const="-", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()
    figures: dict[str, object] = {"machine": describe_machine()}
    quiet = lambda message: None  # noqa: E731

    if args.rebuild:
        for spec in VM_TARGETS:
            vm_rm(ROOT, spec.name, quiet)
        started = time.monotonic()
        vm_up(ROOT, progress=quiet)
        figures["rebuild_wall_s"] = round(time.monotonic() - started, 1)
    builds = []
    for spec in VM_TARGETS:
        info = read_image_info(vm_dir() / "images", spec.image) or {}
        builds.append({"image": spec.image, "build_s": info.get("build_seconds"), "mmdebstrap_s": info.get("mmdebstrap_s"),
                       "disk_s": info.get("disk_s"), "kernel": info.get("kernel")})
    figures["image_build"] = builds
    print(tabulate(builds, headers="keys"), "\n")

    if not args.no_boot:
        boots = []
        for spec in VM_TARGETS:
            started = time.monotonic()
            row = vm_reset(ROOT, [spec.name], quiet)[0]
            boots.append({"vm": spec.name, "accel": row["accel"], "cpu": row["cpu"],
                          "reset_to_ssh_s": round(time.monotonic() - started, 1)})
        figures["boot"] = boots
        print(tabulate(boots, headers="keys"), "\n")

    commands = [{"target": name, "median_ms": round(per_command(name, args.count) * 1000, 2)} for name in TARGETS]
    figures["per_command"] = commands
    print(tabulate(commands, headers="keys"), "\n")

    native = micro_native()
    rows = [{"where": "native (host)", **{k: round(v, 4) for k, v in native.items()}}]
    for name, label in (("vm-arm64", "vm-arm64 (TCG)"), ("lab-arm64", "lab-arm64 (qemu-user)"),
                        ("vm-x86", "vm-x86"), ("lab-x86", "lab-x86 (chroot, native)")):
        result = micro_remote(name)
        rows.append({"where": label, **{k: round(v, 4) for k, v in result.items()}})
    for row in rows:
        for key in native:
            row[f"{key} x"] = round(row[key] / native[key], 1)
    figures["micro"] = rows
    print(tabulate(rows, headers="keys"))
    print("\nratios are to native; emulated machines' timings are emulation, not silicon")
    if args.json:
        text = json.dumps(figures, indent=2)
        (sys.stdout.write(text + "\n") if args.json == "-" else Path(args.json).write_text(text + "\n"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
