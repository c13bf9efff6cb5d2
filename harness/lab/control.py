"""`xch lab up|status|down`: bring every lab target up (building images once), report, and take it down.

Idempotent: targets already answering are left alone, a dead sshd is restarted, existing mounts are
reused; `lab_down` stops every process inside an image, unmounts, and removes targets/lab.toml.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.core.errors import InputError, LabError
from harness.core.storage import atomic_write
from harness.lab.host import (
    _terminate,
    check_port_free,
    ensure_apt_sources,
    ensure_binfmt,
    ensure_mounts,
    mounts_under,
    pids_in_root,
    prepare_root,
    provide_interpreter,
    require_root,
    unmount_all_under,
)
from harness.lab.images import build_debian_image, check_rootfs, extract_rootfs
from harness.lab.sshd import (
    ensure_client_key,
    ensure_host_keys,
    host_key_lines,
    read_pidfile,
    running_sshd,
    ssh_answering,
    start_sshd,
)
from harness.lab.state import (
    RESERVED_TARGET_NAMES,
    LabTarget,
    Progress,
    RootfsSpec,
    _locked,
    _stderr_progress,
    all_targets,
    lab_dir,
    load_state,
    merge_extras,
    render_inventory,
    save_state,
)


def _ensure_images(targets: list[LabTarget], base: Path, state: dict, progress: Progress) -> None:
    """Build whatever image is missing; the debootstraps run in parallel (network + emulation)."""
    missing = [t for t in targets if not (base / "images" / t.image).is_dir()]
    debian = [t for t in missing if t.source == "debootstrap"]
    if debian and shutil.which("debootstrap") is None:
        raise LabError("debootstrap is not installed; run `apt-get install debootstrap`")
    with ThreadPoolExecutor(max_workers=max(1, len(debian))) as pool:
        futures = [pool.submit(build_debian_image, t, base, progress) for t in debian]
        errors = [f.exception() for f in futures]
    for exc in errors:
        if exc is not None:
            raise exc
    for t in missing:
        if t.source != "debootstrap":
            record = next(r for r in state["extras"] if r["name"] == t.image)
            extract_rootfs(RootfsSpec(Path(record["file"]), record["name"], record["arch"]), base, progress)


def _precheck_ports(targets: list[LabTarget], base: Path) -> None:
    """Fail on a foreign port holder before anything is built, mounted or started."""
    for t in targets:
        root = base / "images" / t.image
        if not (root.is_dir() and running_sshd(root) is not None):
            check_port_free(t.host, t.port, t.name)


def _bring_up(target: LabTarget, root: Path, pubkey: str, binfmt: dict | None,
              previous: dict, progress: Progress) -> tuple[str, int, list[str]]:
    """Mount, configure and start one target; returns (status, pid, mounts made now)."""
    if target.source != "debootstrap":
        check_rootfs(root, target.image, target.arch)
    provide_interpreter(root, binfmt)
    mounted = ensure_mounts(root, progress)
    prepare_root(root, pubkey, debian=target.source == "debootstrap")
    if target.source == "debootstrap":
        ensure_apt_sources(root, progress)
    pid = running_sshd(root)
    if pid is not None and ssh_answering(target.host, target.port):
        return "already running", pid, mounted
    if pid is not None:  # alive but not answering: hung, replace it
        progress(f"{target.name}: sshd pid {pid} is not answering; restarting it")
        _terminate([pid])
    had_run = pid is not None or bool(previous.get("pid")) or read_pidfile(root) is not None
    check_port_free(target.host, target.port, target.name)
    progress(f"{target.name}: starting sshd on {target.host}:{target.port}...")
    ensure_host_keys(root)
    pid = start_sshd(root, target)
    return ("restarted" if had_run else "started"), pid, mounted


def lab_up(project_dir: Path, extra: list[RootfsSpec] | None = None,
           progress: Callable[[str], None] | None = None) -> list[dict]:
    """Build (once) and start every lab target, write known_hosts and targets/lab.toml.

    Idempotent: targets already answering are left alone ("already running"), a dead sshd is
    started again ("restarted"), existing mounts are reused.
    """
    progress = progress or _stderr_progress
    require_root()
    base = lab_dir()
    for sub in ("images", "logs"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    with _locked(base):
        state_path = base / "state.json"
        state = load_state(state_path)
        merge_extras(state, extra)
        targets = all_targets(state)
        binfmts = {arch: ensure_binfmt(arch) for arch in sorted({t.arch for t in targets})}
        _precheck_ports(targets, base)
        _ensure_images(targets, base, state, progress)
        save_state(state_path, state)  # new extras are remembered only once their image exists
        key = ensure_client_key(base)
        pubkey = key.with_suffix(".pub").read_text().strip()
        results = []
        known: list[str] = []
        for t in targets:
            root = base / "images" / t.image
            previous = state["targets"].get(t.name, {})
            status, pid, mounted = _bring_up(t, root, pubkey, binfmts[t.arch], previous, progress)
            known += host_key_lines(root, t.host, t.port)
            state["targets"][t.name] = {
                "image": t.image, "arch": t.arch, "host": t.host, "port": t.port, "root": str(root),
                "pid": pid, "mounts": sorted(set(previous.get("mounts", [])) | set(mounted)),
                "started_at": previous.get("started_at") if status == "already running" else time.time(),
            }
            save_state(state_path, state)
            results.append({"name": t.name, "arch": t.arch, "host": t.host, "port": t.port, "status": status})
            progress(f"{t.name}: {status} ({t.host}:{t.port}, {t.arch})")
        atomic_write(base / "known_hosts", "\n".join(known) + "\n", 0o644, keep_if_same=True)
        inventory = Path(project_dir) / "targets" / "lab.toml"
        atomic_write(inventory, render_inventory(targets, key, base / "known_hosts"), 0o644, keep_if_same=True)
        return results


def lab_status(project_dir: Path) -> list[dict]:
    """Per lab target: name, arch, image, built, running (sshd alive), address, port, answering.

    Read-only and safe without root (then `running` may read False: /proc/<pid>/root is private).
    """
    base = lab_dir()
    state = load_state(base / "state.json")
    rows = []
    for t in all_targets(state):
        root = base / "images" / t.image
        rows.append({
            "name": t.name, "arch": t.arch, "image": str(root), "built": root.is_dir(),
            "running": root.is_dir() and running_sshd(root) is not None,
            "address": t.host, "port": t.port,
            "answering": ssh_answering(t.host, t.port, timeout=2.0),
        })
    return rows


def _stop_target(target: LabTarget, root: Path, state: dict) -> list[str]:
    """Stop a target's sshd and everything else running inside its image."""
    actions: list[str] = []
    if not root.is_dir():
        return actions
    pid = running_sshd(root)
    if pid is not None:
        _terminate([pid])
        actions.append(f"stopped sshd of {target.name} (pid {pid})")
    others = pids_in_root(root)
    if others:
        _terminate(others)
        actions.append(f"stopped {len(others)} other process(es) inside {target.name}")
    if target.name in state["targets"]:
        state["targets"][target.name]["pid"] = None
    return actions


def lab_rm(project_dir: Path, name: str, progress: Callable[[str], None] | None = None,
           forget: bool = True) -> list[str]:
    """Stop one chroot target, unmount what it had mounted, delete its image, and (forget=True) drop
    an extra rootfs from the lab's state; targets/lab.toml then lists only targets whose image exists.

    A built-in target (lab-arm64, lab-x86) is built again by the next `xch lab up`.
    """
    progress = progress or _stderr_progress
    require_root()
    base = lab_dir()
    with _locked(base):
        state_path = base / "state.json"
        state = load_state(state_path)
        targets = all_targets(state)
        target = next((t for t in targets if t.name == name), None)
        if target is None:
            vms = ", ".join(n for n in RESERVED_TARGET_NAMES if n.startswith("vm-"))
            raise InputError(f"no lab target called {name!r} (the chroot lab has "
                             f"{', '.join(t.name for t in targets)}; the VM lab has {vms})")
        root = base / "images" / target.image
        actions = _stop_target(target, root, state)
        actions += unmount_all_under(root, progress)
        if mounts_under(root):
            raise LabError(f"{root} still has mounts under it ({', '.join(mounts_under(root))}); unmount them first")
        if root.exists():
            shutil.rmtree(root)
            actions.append(f"removed image {root}")
        state["targets"].pop(name, None)
        if forget and target.source != "debootstrap":
            state["extras"] = [r for r in state["extras"] if r["name"] != target.image]
            actions.append(f"forgot the extra rootfs {name}")
        save_state(state_path, state)
        inventory = Path(project_dir) / "targets" / "lab.toml"
        if inventory.exists():
            built = [t for t in all_targets(state) if (base / "images" / t.image).is_dir()]
            atomic_write(inventory, render_inventory(built, base / "id_ed25519", base / "known_hosts"), 0o644)
    for line in actions:
        progress(line)
    return actions


def lab_rebuild(project_dir: Path, name: str, progress: Callable[[str], None] | None = None) -> list[dict]:
    """Delete one chroot target's image (keeping an extra's tarball in the state) and bring the lab up again."""
    lab_rm(project_dir, name, progress, forget=False)
    return lab_up(project_dir, progress=progress)


def lab_down(project_dir: Path, progress: Callable[[str], None] | None = None) -> list[str]:
    """Stop every lab sshd (and anything else running inside a lab chroot), unmount everything
    under the lab dir, and remove targets/lab.toml (it would point at dead targets)."""
    progress = progress or _stderr_progress
    require_root()
    base = lab_dir()
    actions: list[str] = []
    if not base.exists():
        return actions
    with _locked(base):
        state_path = base / "state.json"
        state = load_state(state_path)
        for t in all_targets(state):
            actions += _stop_target(t, base / "images" / t.image, state)
        actions += unmount_all_under(base, progress)
        for t in state["targets"].values():
            t["mounts"] = []
        leftover = mounts_under(base)
        if leftover:
            progress(f"warning: still mounted: {', '.join(leftover)}")
        inventory = Path(project_dir) / "targets" / "lab.toml"
        if inventory.exists():
            inventory.unlink()
            actions.append(f"removed {inventory}")
        save_state(state_path, state)
    for line in actions:
        progress(line)
    return actions
