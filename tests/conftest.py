"""Fixtures for xch's own tests: the lab inventory and a way to run the `xch` CLI for real."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# tests/support: helpers shared by tests and benchmarks (the extra-sshd fleet), importable by name.
sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))

PROJECT = Path(__file__).resolve().parents[1]
LAB_TOML = PROJECT / "targets" / "lab.toml"
LAB_VM_TOML = PROJECT / "targets" / "lab-vm.toml"


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=3) as sock:
            sock.settimeout(5)
            return sock.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def _usable_lab(path: Path, names: list[str], up: str) -> Path:
    """`path` when it lists exactly `names` and they all answer SSH; else skip (or fail with XCH_REQUIRE_LAB=1)."""
    from harness.inventory import load_inventory

    problem = None
    if not path.exists():
        problem = f"{path} not found: run `{up}` (as root)"
    else:
        inv = load_inventory([path])
        have = sorted(t.name for t in inv.targets)
        down = [t.name for t in inv.targets if not _answers(t.host, t.port)]
        if not set(names) <= set(have) or down:
            problem = f"lab targets not all answering (have {', '.join(have)}; down {', '.join(down) or '-'}): run `{up}`"
    if problem:
        if os.environ.get("XCH_REQUIRE_LAB") == "1":
            pytest.fail(f"XCH_REQUIRE_LAB=1 but the lab is not usable: {problem}", pytrace=False)
        pytest.skip(problem)
    return path


@pytest.fixture(scope="session")
def lab_inventory() -> Path:
    """targets/lab.toml when the chroot lab's targets answer; with XCH_REQUIRE_LAB=1 a missing lab fails."""
    return _usable_lab(LAB_TOML, ["lab-arm64", "lab-x86"], "xch lab up")


@pytest.fixture(scope="session")
def vm_inventory() -> Path:
    """targets/lab-vm.toml when both lab VMs answer; with XCH_REQUIRE_LAB=1 a missing VM lab fails."""
    return _usable_lab(LAB_VM_TOML, ["vm-arm64", "vm-x86"], "xch lab up --vm")


@dataclass
class Completed:
    rc: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


def run_xch(*args: str, cwd: Path = PROJECT, env: dict | None = None, timeout: float = 600) -> Completed:
    """Run the real CLI in a subprocess, as a user would."""
    proc = subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
    return Completed(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def xch():
    return run_xch
