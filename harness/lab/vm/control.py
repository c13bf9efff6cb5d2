"""`xch lab up --vm` and friends: build (once), boot, reset, stop and remove the lab's VMs.

Layout under `<lab dir>/vm/` (beside the chroot lab, which this never touches):

    images/<image>/        cached base images (see image.py)
    run/<name>/            one VM instance: overlay.qcow2 (its writes), scratch disks, qemu.pid,
                           console.log (serial console of the current boot), qmp.sock
    logs/<image>.log       mmdebstrap / mkfs output of the build
    kvm-probe.json         the cached KVM verdict (kvm.py)
    known_hosts            the VMs' host keys, for strict checking
    state.json             per VM: accelerator, pid, boot time (written atomically)
    lock                   flock()ed by every verb, so two invocations never interleave

The VM targets go to `targets/lab-vm.toml`, not the chroot lab's `targets/lab.toml`: both files are
read by default, and keeping them apart means `xch lab down` of one lab never drops the other's
targets, and selectors the chroot lab's users rely on (`lab=true`, `--inventory targets/lab.toml`)
keep meaning the chroot targets.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.core.errors import InputError, LabError
from harness.core.locks import folder_lock
from harness.core.storage import atomic_write
from harness.lab.host import _proc_cmdline, _terminate, check_port_free, require_root
from harness.lab.sshd import ensure_client_key, ssh_answering, wait_for_banner
from harness.lab.state import LabTarget, Progress, _stderr_progress, host_arch, lab_dir, render_inventory
from harness.lab.vm import qemu
from harness.lab.vm.image import build_vm_image, read_image_info, remove_image
from harness.lab.vm.kvm import kvm_verdict
from harness.lab.vm.spec import VM_TARGETS, VmSpec, vm_spec

STATE_VERSION = 1

BOOT_TIMEOUT = 420.0  # seconds to SSH; TCG boots take 20-60 s here, more on a loaded machine

INVENTORY_NAME = "lab-vm.toml"

INVENTORY_HEADER = (
    "# Written by `xch lab up --vm`; removed by `xch lab down --vm`. Full-system VMs (own kernel, systemd,\n"
    "# devices, network). Under emulation=tcg every instruction is emulated: timings are emulation, not silicon."
)


def vm_dir() -> Path:
    return lab_dir() / "vm"


def _state_path() -> Path:
    return vm_dir() / "state.json"


def load_vm_state() -> dict:
    path = _state_path()
    if not path.exists():
        return {"version": STATE_VERSION, "vms": {}}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise LabError(f"cannot read VM lab state {path}: {exc}; fix or delete it") from exc
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION or not isinstance(data.get("vms"), dict):
        raise LabError(f"VM lab state {path} has an unknown format; delete it and run `xch lab up --vm`")
    return data


def _save_state(state: dict) -> None:
    atomic_write(_state_path(), json.dumps(state, indent=2, sort_keys=True) + "\n", 0o644, keep_if_same=True)


def paths_for(spec: VmSpec) -> qemu.VmPaths:
    return qemu.VmPaths(vm_dir() / "images" / spec.image, vm_dir() / "run" / spec.name)


def select_specs(names: list[str] | None) -> list[VmSpec]:
    """The VMs named (all when none); an unknown name is an error naming the known ones."""
    if not names:
        return list(VM_TARGETS)
    chosen = []
    for name in names:
        try:
            chosen.append(vm_spec(name))
        except KeyError:
            known = ", ".join(s.name for s in VM_TARGETS)
            raise InputError(f"no lab VM called {name!r} (the VM lab has {known})") from None
    return chosen


def running_pid(spec: VmSpec) -> int | None:
    """The pid of this VM's qemu if it is alive (pid file + its command line), so a reused pid is never killed."""
    try:
        pid = int(paths_for(spec).pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if f"xch-{spec.name}" in _proc_cmdline(pid) else None


def _udp_port_free(host: str, port: int) -> bool:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        sock.close()


def _console_tail(spec: VmSpec, lines: int = 12) -> str:
    try:
        text = paths_for(spec).console.read_text(errors="replace")
    except OSError:
        return "(no console output)"
    return "\n".join(text.splitlines()[-lines:])


def _ensure_disks(spec: VmSpec, fresh: bool) -> None:
    paths = paths_for(spec)
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    for disk in (paths.overlay, paths.scratch_virtio, paths.scratch_nvme):
        if fresh:
            disk.unlink(missing_ok=True)
    if not paths.overlay.exists():
        qemu.create_overlay(paths.base, paths.overlay)
    for scratch in (paths.scratch_virtio, paths.scratch_nvme):
        if not scratch.exists():
            qemu.create_scratch(scratch)


def _accelerator(spec: VmSpec, binary: str, progress: Progress) -> tuple[str, str, str]:
    """("kvm"|"tcg", CPU model, why): KVM only for a VM of the host's architecture whose probe succeeded."""
    if not spec.kvm_capable or spec.arch != host_arch():
        return "tcg", spec.tcg_cpu, f"{spec.arch} guest on a {host_arch()} host: TCG emulation"
    paths = paths_for(spec)
    verdict = kvm_verdict(vm_dir(), spec, binary, qemu.qemu_version(binary), paths.kernel, paths.initrd)
    if not verdict.get("cached"):
        progress(f"KVM probe: {'works' if verdict['kvm'] else 'not usable, TCG it is'} ({verdict['reason']})")
    if verdict["kvm"]:
        return "kvm", verdict["cpu"], verdict["reason"]
    return "tcg", spec.tcg_cpu, f"KVM probe failed: {verdict['reason']}"


def _launch(spec: VmSpec, accel: str, cpu: str) -> int:
    """Start qemu (it daemonizes once the devices are set up) and return its pid."""
    binary = qemu.qemu_binary(spec)
    paths = paths_for(spec)
    check_port_free(spec.host, spec.port, spec.name)
    if not _udp_port_free(*spec.link_local):
        raise LabError(f"UDP {spec.link_local[0]}:{spec.link_local[1]} (the shared link of {spec.name}) is in use; "
                       f"find it with `ss -lunp 'sport = :{spec.link_local[1]}'`")
    paths.pidfile.unlink(missing_ok=True)
    args = qemu.qemu_args(spec, paths, accel, binary, qemu.firmware_file(spec), kvm_cpu=cpu)
    (paths.run_dir / "qemu.args").write_text(json.dumps(args) + "\n")
    proc = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise LabError(f"qemu for {spec.name} failed to start (exit {proc.returncode}): "
                       f"{(proc.stderr or proc.stdout).strip()[-600:]}")
    pid = running_pid(spec)
    if pid is None:
        raise LabError(f"qemu for {spec.name} started but left no live pid in {paths.pidfile}")
    return pid


def _wait_for_ssh(spec: VmSpec, pid: int, timeout: float = BOOT_TIMEOUT) -> float:
    """Seconds from now until sshd in the VM answers; a dead qemu or a timeout is an error with the console."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if wait_for_banner(spec.host, spec.port, timeout=5.0):
            return time.monotonic() - started
        if running_pid(spec) != pid:
            raise LabError(f"qemu of {spec.name} exited during boot; console:\n{_console_tail(spec)}")
    raise LabError(f"{spec.name} did not answer SSH on {spec.host}:{spec.port} within {timeout:.0f}s; "
                   f"console ({paths_for(spec).console}):\n{_console_tail(spec)}")


def _stop(spec: VmSpec, graceful: bool) -> int | None:
    """Stop this VM's qemu: ACPI power-down first when graceful, then SIGTERM/SIGKILL. Returns the pid stopped."""
    pid = running_pid(spec)
    if pid is None:
        return None
    if graceful and _qmp_powerdown(paths_for(spec).qmp):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and running_pid(spec) == pid:
            time.sleep(0.5)
    if running_pid(spec) == pid:
        _terminate([pid])
    paths_for(spec).pidfile.unlink(missing_ok=True)
    return pid


def _qmp_powerdown(sock_path: Path) -> bool:
    """Ask qemu (QMP) to press the power button; False when the socket does not answer."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(sock_path))
            sock.recv(4096)  # greeting
            sock.sendall(b'{"execute": "qmp_capabilities"}\n')
            sock.recv(4096)
            sock.sendall(b'{"execute": "system_powerdown"}\n')
            return b"return" in sock.recv(4096)
    except OSError:
        return False


def _known_host_lines(spec: VmSpec) -> list[str]:
    path = paths_for(spec).image_dir / "host_keys"
    lines = []
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 2:
            lines.append(f"[{spec.host}]:{spec.port} {fields[0]} {fields[1]}")
    return lines


def _write_inventory(project_dir: Path, state: dict, key: Path) -> Path:
    """targets/lab-vm.toml with every VM that has a state entry (booted at least once)."""
    targets = []
    known: list[str] = []
    for spec in VM_TARGETS:
        entry = state["vms"].get(spec.name)
        if not entry or not paths_for(spec).image_dir.is_dir():
            continue
        labels = {**spec.labels, "emulation": entry.get("accel", "tcg")}
        targets.append(LabTarget(spec.name, spec.image, spec.arch, spec.host, spec.port, labels, "vm"))
        known += _known_host_lines(spec)
    atomic_write(vm_dir() / "known_hosts", "\n".join(known) + "\n", 0o644, keep_if_same=True)
    inventory = Path(project_dir) / "targets" / INVENTORY_NAME
    atomic_write(inventory, render_inventory(targets, key, vm_dir() / "known_hosts", INVENTORY_HEADER), 0o644,
                 keep_if_same=True)
    return inventory


def _ensure_image(spec: VmSpec, pubkey: str, progress: Progress) -> dict:
    images = vm_dir() / "images"
    info = read_image_info(images, spec.image)
    if info is None:
        require_root()
        info = build_vm_image(spec, images, vm_dir() / "logs", pubkey, progress)
    if info.get("client_key") != pubkey.strip():
        raise LabError(f"image {spec.image} authorizes another client key than {lab_dir() / 'id_ed25519.pub'}; "
                       f"rebuild it: `xch lab rebuild {spec.name}`")
    return info


def _boot(spec: VmSpec, fresh: bool, progress: Progress) -> dict:
    """Boot one VM (its image must exist); returns its state entry."""
    binary = qemu.qemu_binary(spec)
    qemu.firmware_file(spec)
    accel, cpu, why = _accelerator(spec, binary, progress)
    _ensure_disks(spec, fresh)
    progress(f"{spec.name}: booting ({accel}, CPU {cpu})...")
    started = time.time()
    pid = _launch(spec, accel, cpu)
    seconds = _wait_for_ssh(spec, pid)
    progress(f"{spec.name}: SSH answers after {seconds:.0f}s ({spec.host}:{spec.port})")
    return {"pid": pid, "accel": accel, "accel_reason": why, "started_at": started,
            "boot_to_ssh_s": round(time.time() - started, 1), "image": spec.image,
            "cpu": cpu}


def vm_up(project_dir: Path, names: list[str] | None = None, progress: Callable[[str], None] | None = None,
          fresh: bool = False) -> list[dict]:
    """Build (once) and boot the VMs; write known_hosts and targets/lab-vm.toml. Idempotent.

    fresh=True drops each VM's overlay and scratch disks first (what `xch lab reset` does).
    """
    progress = progress or _stderr_progress
    specs = select_specs(names)
    base = lab_dir()
    base.mkdir(parents=True, exist_ok=True)
    with folder_lock(vm_dir(), "lock"):
        key = ensure_client_key(base)
        pubkey = key.with_suffix(".pub").read_text().strip()
        for spec in specs:  # clear errors about missing qemu or firmware before a long build
            qemu.qemu_binary(spec)
            qemu.firmware_file(spec)
        with ThreadPoolExecutor(max_workers=len(specs)) as pool:
            list(pool.map(lambda s: _ensure_image(s, pubkey, progress), specs))
        state = load_vm_state()
        to_boot, results = [], []
        for spec in specs:
            pid = running_pid(spec)
            if fresh and pid is not None:
                _stop(spec, graceful=False)
                pid = None
            if pid is not None and ssh_answering(spec.host, spec.port):
                results.append({"name": spec.name, "status": "already running"})
                continue
            if pid is not None:
                progress(f"{spec.name}: qemu pid {pid} does not answer SSH; restarting it")
                _stop(spec, graceful=False)
            to_boot.append(spec)
            results.append({"name": spec.name, "status": "reset" if fresh else "started"})
        with ThreadPoolExecutor(max_workers=max(1, len(to_boot))) as pool:
            futures = {spec.name: pool.submit(_boot, spec, fresh, progress) for spec in to_boot}
            errors = []
            for name, future in futures.items():
                try:
                    state["vms"][name] = future.result()
                except LabError as exc:
                    errors.append(exc)
        _save_state(state)
        _write_inventory(project_dir, state, key)
        if errors:
            raise errors[0]
        rows = []
        for spec, result in zip(specs, results, strict=True):
            entry = state["vms"].get(spec.name, {})
            rows.append({"name": spec.name, "arch": spec.arch, "host": spec.host, "port": spec.port,
                         "accel": entry.get("accel", ""), "cpu": entry.get("cpu", ""), **result})
        return rows


def vm_status() -> list[dict]:
    """Per VM: built, running, answering, accelerator and why, address; read-only."""
    state = load_vm_state() if _state_path().exists() else {"vms": {}}
    rows = []
    for spec in VM_TARGETS:
        entry = state["vms"].get(spec.name, {})
        info = read_image_info(vm_dir() / "images", spec.image) or {}
        pid = running_pid(spec)
        rows.append({"name": spec.name, "arch": spec.arch, "kind": "vm", "built": bool(info),
                     "kernel": info.get("kernel", ""), "running": pid is not None,
                     "answering": pid is not None and ssh_answering(spec.host, spec.port, timeout=5.0),
                     "address": spec.host, "port": spec.port, "accel": entry.get("accel", ""),
                     "accel_reason": entry.get("accel_reason", ""), "cpu": entry.get("cpu", ""),
                     "image": str(paths_for(spec).image_dir)})
    return rows


def vm_down(project_dir: Path, names: list[str] | None = None, progress: Callable[[str], None] | None = None) -> list[str]:
    """Power the VMs down (ACPI, then signals); their overlays stay, so the next up boots the same disks.

    The inventory loses the stopped VMs (it is removed when none is left).
    """
    progress = progress or _stderr_progress
    actions = []
    if not vm_dir().exists():
        return actions
    with folder_lock(vm_dir(), "lock"):
        state = load_vm_state()
        for spec in select_specs(names):
            pid = _stop(spec, graceful=True)
            if pid is not None:
                actions.append(f"stopped {spec.name} (qemu pid {pid})")
            state["vms"].pop(spec.name, None)
        _save_state(state)
        inventory = Path(project_dir) / "targets" / INVENTORY_NAME
        if state["vms"]:
            _write_inventory(project_dir, state, lab_dir() / "id_ed25519")
        elif inventory.exists():
            inventory.unlink()
            actions.append(f"removed {inventory}")
    for line in actions:
        progress(line)
    return actions


def vm_reset(project_dir: Path, names: list[str] | None = None,
             progress: Callable[[str], None] | None = None) -> list[dict]:
    """Return VMs to their base image: stop, drop overlay and scratch disks, boot."""
    return vm_up(project_dir, names, progress, fresh=True)


def vm_rm(project_dir: Path, name: str, progress: Callable[[str], None] | None = None) -> list[str]:
    """Stop one VM and delete its instance and its cached image (the next up builds it again)."""
    progress = progress or _stderr_progress
    spec = select_specs([name])[0]
    actions = vm_down(project_dir, [name], progress)
    with folder_lock(vm_dir(), "lock"):
        run_dir = paths_for(spec).run_dir
        if run_dir.exists():
            shutil.rmtree(run_dir)
            actions.append(f"removed {run_dir}")
        if remove_image(vm_dir() / "images", spec.image):
            actions.append(f"removed image {spec.image}")
    for line in actions[-2:]:
        progress(line)
    return actions


def is_vm_name(name: str) -> bool:
    return any(spec.name == name for spec in VM_TARGETS)

