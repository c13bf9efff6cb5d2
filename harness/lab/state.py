"""The lab's targets and its remembered state: which images exist, where each sshd listens, and the inventory.

state.json (extras to keep, per-target address/port/pid/mounts) is written atomically and read back
strictly: a corrupt file is reported, never silently dropped. `render_inventory` writes
targets/lab.toml, the only way the rest of xch learns about the lab.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.core import arch as arches
from harness.core.errors import LabError
from harness.core.locks import folder_lock
from harness.core.storage import atomic_write

DEFAULT_LAB_DIR = Path("/var/lib/xch/lab")


DEBIAN_SUITE = "bookworm"


STATE_VERSION = 1


INVENTORY_HEADER = (
    "# Written by `xch lab up`; removed by `xch lab down`. "
    "Timings on lab-arm64 come from qemu-user emulation, not ARM silicon."
)


ARCHES = ("aarch64", "x86_64")


FIRST_EXTRA_INDEX = 4  # extras get 127.0.0.4:2203, 127.0.0.5:2204, ...


FIRST_EXTRA_PORT = 2203


Progress = Callable[[str], None]


@dataclass
class RootfsSpec:
    """An extra root filesystem tarball (an openEuler or Kylin export, say) to run in the lab."""

    file: Path
    name: str
    arch: str  # "aarch64" or "x86_64"


@dataclass
class LabTarget:
    """One lab machine: which image it runs and where its sshd listens."""

    name: str
    image: str
    arch: str
    host: str
    port: int
    labels: dict[str, str] = field(default_factory=dict)
    source: str = "debootstrap"  # or the path of the rootfs tarball


def lab_dir() -> Path:
    """The lab's cache and state dir: `$XCH_LAB_DIR`, or /var/lib/xch/lab."""
    env = os.environ.get("XCH_LAB_DIR", "").strip()
    # Resolved, because /proc/<pid>/root and mountinfo report real paths and we compare to them.
    return Path(os.path.realpath(env or DEFAULT_LAB_DIR))


def _stderr_progress(message: str) -> None:
    print(f"xch lab: {message}", file=sys.stderr, flush=True)


def host_arch() -> str:
    """The host's machine name in the kernel's spelling (x86_64, aarch64)."""
    machine = platform.machine().lower()
    return arches.canonical(machine) or machine


def builtin_targets(native: str | None = None) -> list[LabTarget]:
    """The two targets every lab has: Debian bookworm arm64 (emulated) and amd64 (baseline)."""
    native = native or host_arch()
    arm = LabTarget("lab-arm64", f"{DEBIAN_SUITE}-arm64", "aarch64", "127.0.0.2", 2201,
                    {"lab": "true", "arch": "aarch64"})
    x86 = LabTarget("lab-x86", f"{DEBIAN_SUITE}-amd64", "x86_64", "127.0.0.3", 2202,
                    {"lab": "true", "arch": "x86_64", "role": "baseline"})
    for target in (arm, x86):
        if target.arch != native:
            target.labels["emulated"] = "qemu-user"
    return [arm, x86]


def toml_string(value: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_key(key: str) -> str:
    """A bare key when TOML allows one, a quoted key otherwise."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_string(key)


def render_inventory(targets: list[LabTarget], identity_file: Path, known_hosts: Path,
                     header: str = INVENTORY_HEADER) -> str:
    """The `targets/lab.toml` text the inventory loader reads (one [[target]] per lab machine)."""
    lines = [header]
    for t in targets:
        labels = ", ".join(f"{toml_key(k)} = {toml_string(v)}" for k, v in t.labels.items())
        lines += [
            "",
            "[[target]]",
            f"name = {toml_string(t.name)}",
            f"host = {toml_string(t.host)}",
            f"port = {int(t.port)}",
            'user = "root"',
            f"identity_file = {toml_string(str(identity_file))}",
            f"known_hosts = {toml_string(str(known_hosts))}",
            f"labels = {{ {labels} }}",
        ]
    return "\n".join(lines) + "\n"


def empty_state() -> dict:
    return {"version": STATE_VERSION, "extras": [], "targets": {}}


def load_state(path: Path) -> dict:
    """The saved state, or an empty one; a corrupt file is reported, not silently dropped."""
    if not path.exists():
        return empty_state()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise LabError(f"cannot read lab state {path}: {exc}; fix or delete it") from exc
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        raise LabError(f"lab state {path} has an unknown format; delete it and run `xch lab up`")
    data.setdefault("extras", [])
    data.setdefault("targets", {})
    return data


def save_state(path: Path, state: dict) -> None:
    atomic_write(path, json.dumps(state, indent=2, sort_keys=True) + "\n", 0o644, keep_if_same=True)


def _locked(directory: Path):
    """Serialize up/down: two concurrent runs would race on mounts and sshd starts."""
    return folder_lock(directory, "lock")


# Target names an extra rootfs may not take: the chroot lab's and the VM lab's own.
RESERVED_TARGET_NAMES = ("lab-arm64", "lab-x86", "vm-arm64", "vm-x86")


def _validate_extra(spec: RootfsSpec, taken: set[str]) -> None:
    if spec.arch not in ARCHES:
        raise LabError(f"rootfs {spec.name}: arch must be one of {', '.join(ARCHES)}, not {spec.arch!r}")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec.name) or spec.name.endswith(".partial"):
        raise LabError(f"rootfs name {spec.name!r} must be letters, digits, '.', '_' or '-'")
    if spec.name in taken:
        raise LabError(f"rootfs name {spec.name!r} clashes with a built-in lab image")
    if spec.name in RESERVED_TARGET_NAMES:
        raise LabError(f"rootfs name {spec.name!r} is a built-in lab target's name; choose another")


def merge_extras(state: dict, extra: list[RootfsSpec] | None) -> None:
    """Remember new extras in state (name is the key; a re-given name updates file/arch)."""
    builtin_images = {t.image for t in builtin_targets()}
    for spec in extra or []:
        _validate_extra(spec, builtin_images)
        record = {"name": spec.name, "file": str(Path(spec.file).absolute()), "arch": spec.arch}
        for i, old in enumerate(state["extras"]):
            if old["name"] == spec.name:
                state["extras"][i] = {**old, **record}
                break
        else:
            state["extras"].append(record)


def all_targets(state: dict, native: str | None = None) -> list[LabTarget]:
    """Built-ins plus remembered extras; extras keep the address/port first given to them.

    An extra is the target its --name says (`--rootfs F --name euler` is target `euler`).
    """
    native = native or host_arch()
    targets = builtin_targets(native)
    used = {(t.host, t.port) for t in targets}
    for record in state["extras"]:
        if "host" not in record or (record["host"], record["port"]) in used:
            index = 0
            while (f"127.0.0.{FIRST_EXTRA_INDEX + index}", FIRST_EXTRA_PORT + index) in used:
                index += 1
            record["host"] = f"127.0.0.{FIRST_EXTRA_INDEX + index}"
            record["port"] = FIRST_EXTRA_PORT + index
        used.add((record["host"], record["port"]))
        labels = {"lab": "true", "arch": record["arch"], "image": record["name"]}
        if record["arch"] != native:
            labels["emulated"] = "qemu-user"
        targets.append(LabTarget(record["name"], record["name"], record["arch"],
                                 record["host"], int(record["port"]), labels, record["file"]))
    return targets
