"""Whether KVM truly works here: a real, time-limited boot, cached per machine; never /dev/kvm's existence.

On our machines /dev/kvm exists and answers its API, yet it is a nested "kvm-pvm" on which an x86
guest hung right after "Probing EDD", `-cpu host` crashed qemu, and a loop ran ~350x slower than
under TCG. So the probe boots the x86 image's own kernel and initramfs under KVM with the same CPU
model the VM would get, in probe mode (the initramfs times a shell loop, prints a marker, powers
off), and KVM is used only when the marker arrives within the limit. The verdict is cached in
`<lab dir>/vm/kvm-probe.json`, keyed by what decides it (machine id, host kernel, qemu version,
the guest kernel), so it is paid once per machine and taken again when one of those changes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from harness.core.storage import atomic_write
from harness.lab.vm.initramfs import PROBE_MARKER
from harness.lab.vm.qemu import accel_args
from harness.lab.vm.spec import VmSpec

# CPU models tried in order: `host` is what a KVM guest should get; some nested KVMs refuse an MSR
# that `-arch-capabilities` leaves out.
KVM_CPU_MODELS = ("host", "host,-arch-capabilities")

PROBE_TIMEOUT = 60.0  # seconds; TCG reaches the marker in ~10 s here, a working KVM in ~2 s

PROBE_LOOP_LIMIT = 10.0  # seconds for the initramfs' shell loop: ~0.1 s native, ~1 s under TCG

CACHE_FILE = "kvm-probe.json"


def kvm_device_problem(device: Path = Path("/dev/kvm")) -> str:
    """Why KVM cannot even be tried ("" when /dev/kvm is there and usable by us)."""
    if not device.exists():
        return f"{device} does not exist (no KVM module loaded, or not allowed in this machine)"
    if not os.access(device, os.R_OK | os.W_OK):
        return f"{device} is not readable and writable by this user"
    return ""


def probe_key(kernel: Path, qemu_version: str) -> dict[str, str]:
    """What the verdict depends on; a cached verdict with another key is probed again."""
    def read(path: str) -> str:
        try:
            return Path(path).read_text().strip()
        except OSError:
            return ""
    stat = kernel.stat() if kernel.exists() else None
    return {"probe": "2", "machine_id": read("/etc/machine-id"), "host_kernel": os.uname().release,
            "qemu": qemu_version, "guest_kernel": f"{kernel.name}:{stat.st_size if stat else 0}",
            "kvm_module": ",".join(sorted(m for m in ("kvm", "kvm_intel", "kvm_amd", "kvm_pvm")
                                          if Path(f"/sys/module/{m}").exists()))}


def parse_probe_console(text: str) -> float | None:
    """The loop time the probe printed (`XCH-PROBE-OK uptime=1.23 loop_end=1.40`), None without the marker."""
    match = re.search(rf"{PROBE_MARKER} uptime=([0-9.]+) loop_end=([0-9.]+)", text)
    if not match:
        return None
    return max(0.0, float(match.group(2)) - float(match.group(1)))


def run_probe(spec: VmSpec, binary: str, kernel: Path, initrd: Path, timeout: float = PROBE_TIMEOUT) -> dict:
    """Boot the probe under KVM with each CPU model until one works.

    {"kvm": bool, "cpu": model or "", "reason": str, "seconds": float, "loop_seconds": float|None, "tries": [...]}.
    """
    problem = kvm_device_problem()
    if problem:
        return {"kvm": False, "cpu": "", "reason": problem, "seconds": 0.0, "loop_seconds": None, "tries": []}
    tries = []
    for cpu in KVM_CPU_MODELS:
        result = {**probe_once(spec, binary, kernel, initrd, cpu, timeout), "cpu": cpu}
        tries.append({k: result[k] for k in ("cpu", "kvm", "reason", "seconds")})
        if result["kvm"]:
            break
    result["tries"] = tries
    if not result["kvm"]:
        result["cpu"] = ""
        result["reason"] = "; ".join(f"-cpu {t['cpu']}: {t['reason']}" for t in tries)
    return result


def probe_once(spec: VmSpec, binary: str, kernel: Path, initrd: Path, cpu: str, timeout: float) -> dict:
    """One time-limited KVM boot of the probe with one CPU model."""
    with tempfile.TemporaryDirectory(prefix="xch-kvm-probe-") as tmp:
        console = Path(tmp) / "console.log"
        args = [binary, "-M", spec.machine, *accel_args(spec, "kvm", cpu), "-smp", "1", "-m", "512",
                "-kernel", str(kernel), "-initrd", str(initrd),
                "-append", f"console={spec.console} xch.probe=1 quiet", "-display", "none",
                "-monitor", "none", "-serial", f"file:{console}", "-no-reboot", "-nodefaults"]
        started = time.monotonic()
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        loop = None
        while time.monotonic() - started < timeout:
            loop = parse_probe_console(console.read_text(errors="replace") if console.exists() else "")
            if loop is not None or proc.poll() is not None:
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        if proc.poll() is None:
            proc.kill()
        output = (proc.communicate(timeout=30)[0] or b"").decode(errors="replace").strip()
        tail = (console.read_text(errors="replace") if console.exists() else "").strip().splitlines()[-3:]
    if loop is None:
        if elapsed >= timeout:
            reason = f"a KVM guest did not finish booting within {timeout:.0f}s (last console lines: {tail})"
        else:
            reason = f"qemu with KVM exited {proc.returncode} before the guest booted: {output[-300:]}"
        return {"kvm": False, "reason": reason, "seconds": round(elapsed, 1), "loop_seconds": None}
    if loop > PROBE_LOOP_LIMIT:
        return {"kvm": False, "reason": f"a KVM guest booted, but a shell loop took {loop:.1f}s (TCG: ~1 s)",
                "seconds": round(elapsed, 1), "loop_seconds": loop}
    return {"kvm": True, "reason": f"a KVM guest booted in {elapsed:.1f}s; its loop took {loop:.2f}s",
            "seconds": round(elapsed, 1), "loop_seconds": loop}


def kvm_verdict(cache_dir: Path, spec: VmSpec, binary: str, qemu_version: str, kernel: Path, initrd: Path) -> dict:
    """The cached verdict for this machine, probing when there is none (or its key changed)."""
    cache = cache_dir / CACHE_FILE
    key = probe_key(kernel, qemu_version)
    try:
        cached = json.loads(cache.read_text())
        if cached.get("key") == key:
            return {**cached, "cached": True}
    except (OSError, ValueError, AttributeError):
        pass
    verdict = {**run_probe(spec, binary, kernel, initrd), "key": key, "probed_at": time.time()}
    atomic_write(cache, json.dumps(verdict, indent=2) + "\n", 0o644)
    return {**verdict, "cached": False}
