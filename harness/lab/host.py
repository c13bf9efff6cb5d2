"""What the lab does to the host to make a chroot a machine: mounts, binfmt_misc, processes, ports.

Everything that needs root and touches the host lives here, so a reader can see in one place what
`xch lab up` changes outside its own folder (mounts under the lab dir, binfmt handlers) and how
`xch lab down` undoes it (processes whose root is an image, last-mounted-first unmounts).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from harness.core.errors import LabError
from harness.core.storage import atomic_write
from harness.lab.aptsources import IMAGE_SOURCES_FILE, IMAGE_SOURCES_LIST_NOTE, image_sources
from harness.lab.state import DEBIAN_SUITE, Progress, host_arch

BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")


def require_root(euid: int | None = None) -> None:
    """Fail early and clearly: chroot, mount and debootstrap all need root.

    `euid` is a parameter so the check can be tested without being root.
    """
    if (os.geteuid() if euid is None else euid) != 0:
        raise LabError(
            "the local lab needs root (it uses chroot, mount and debootstrap); "
            "re-run as root, e.g. `sudo xch lab up`"
        )


def _write_in_root(root: Path, rel: str, data: str, mode: int = 0o644) -> None:
    """Write a file inside a chroot without following a symlink out of it.

    An image's /etc/resolv.conf is often an absolute symlink (systemd-resolved); opening it from
    the host would write the HOST's file, so the link is replaced by a regular file.
    """
    path = root / rel.lstrip("/")
    parent = path.parent
    parent.mkdir(parents=True, exist_ok=True)
    if not parent.resolve().is_relative_to(root.resolve()):
        raise LabError(f"{path} resolves outside the image {root}; refusing to write it")
    if path.is_symlink():
        path.unlink()
    atomic_write(path, data, mode, keep_if_same=True)


def run_cmd(args: list[str], what: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
    """Run a command (argument list, no shell); raise LabError naming `what` on failure."""
    try:
        proc = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)
    except FileNotFoundError as exc:
        raise LabError(f"{what}: {args[0]} not found") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{what}: timed out after {timeout:.0f}s: {' '.join(args)}") from exc
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()[-800:]
        raise LabError(f"{what} failed (exit {proc.returncode}): {' '.join(args)}\n{detail}")
    return proc


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on (or holds) host:port, judged by trying to bind it.

    Binding is the test sshd itself will face, and it also catches a wildcard listener on the port.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            return True
        raise
    finally:
        sock.close()
    return False


def check_port_free(host: str, port: int, target: str) -> None:
    """Raise a LabError that names address:port when someone else holds the lab's port."""
    if port_in_use(host, port):
        raise LabError(
            f"{host}:{port} (for {target}) is already in use by another process; "
            f"find it with `ss -ltnp 'sport = :{port}'` and stop it, then re-run `xch lab up`"
        )


def _proc_root(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/root")
    except OSError:
        return None


def _proc_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def pids_in_root(root: Path) -> list[int]:
    """Every process whose root directory is this image (sshd sessions, daemons tests started)."""
    found = []
    real = os.path.realpath(root)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _proc_root(int(entry.name)) == real:
            found.append(int(entry.name))
    return sorted(found)


def _terminate(pids: list[int], grace: float = 5.0) -> None:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL what is left."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [p for p in alive if Path(f"/proc/{p}").exists() and not _is_zombie(p)]
    for pid in alive:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def _unescape_mount_path(text: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo octal."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def mount_points(mountinfo: Path = Path("/proc/self/mountinfo")) -> list[str]:
    """Mount points in mount order (later mounts last), as this process sees them."""
    points = []
    for line in mountinfo.read_text().splitlines():
        fields = line.split()
        if len(fields) > 4:
            points.append(_unescape_mount_path(fields[4]))
    return points


def mounts_under(directory: Path, mountinfo: Path = Path("/proc/self/mountinfo")) -> list[str]:
    """Mount points strictly below `directory`, in mount order, each listed once."""
    prefix = str(directory).rstrip("/") + "/"
    seen: list[str] = []
    for point in mount_points(mountinfo):
        if point.startswith(prefix) and point not in seen:
            seen.append(point)
    return seen


def is_mounted(path: Path) -> bool:
    return str(path) in mount_points()


def _chroot_mounts(root: Path) -> list[tuple[str, list[list[str]]]]:
    """What a chroot needs mounted, as (mount point, commands) in mount order.

    /proc for ps and facts; /sys read-only for hardware facts; the host's /dev (null, urandom,
    ptys) plus /dev/pts for sessions; a fresh tmpfs on /dev/shm and /run (sshd privsep dir, pid
    file; a fresh /run also drops stale pid files). Bind mounts are made private so nothing we
    mount below them propagates back to the host's /dev.
    """
    r = str(root)
    plan: list[tuple[str, list[list[str]]]] = [
        (f"{r}/proc", [["mount", "-t", "proc", "-o", "nosuid,nodev,noexec", "proc", f"{r}/proc"]]),
        (f"{r}/sys", [["mount", "--bind", "/sys", f"{r}/sys"],
                      ["mount", "--make-private", f"{r}/sys"],
                      ["mount", "-o", "remount,bind,ro", f"{r}/sys"]]),
        (f"{r}/dev", [["mount", "--bind", "/dev", f"{r}/dev"],
                      ["mount", "--make-private", f"{r}/dev"]]),
    ]
    if os.path.ismount("/dev/pts"):
        plan.append((f"{r}/dev/pts", [["mount", "--bind", "/dev/pts", f"{r}/dev/pts"],
                                      ["mount", "--make-private", f"{r}/dev/pts"]]))
    plan += [
        (f"{r}/dev/shm", [["mount", "-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs",
                           f"{r}/dev/shm"]]),
        (f"{r}/run", [["mount", "-t", "tmpfs", "-o", "mode=755,nosuid,nodev", "tmpfs", f"{r}/run"]]),
    ]
    return plan


def ensure_mounts(root: Path, progress: Progress) -> list[str]:
    """Mount what the chroot needs, reusing anything already mounted (never stacking a second)."""
    done = []
    for point, commands in _chroot_mounts(root):
        Path(point).mkdir(parents=True, exist_ok=True)
        if is_mounted(Path(point)):
            continue
        run_cmd(commands[0], f"mounting {point}")
        for extra in commands[1:]:
            try:
                run_cmd(extra, f"adjusting mount {point}")
            except LabError as exc:  # e.g. read-only remount refused: not worth failing the lab
                progress(f"warning: {exc}")
        done.append(point)
    return done


def unmount_all_under(directory: Path, progress: Progress) -> list[str]:
    """Unmount everything below `directory`, last-mounted first; `umount -l` if one is busy."""
    actions = []
    for _ in range(3):  # a lazy unmount can uncover an older mount on the same point
        points = mounts_under(directory)
        if not points:
            break
        for point in reversed(points):
            if subprocess.run(["umount", point], capture_output=True).returncode == 0:
                actions.append(f"unmounted {point}")
            elif subprocess.run(["umount", "-l", point], capture_output=True).returncode == 0:
                actions.append(f"unmounted {point} (lazy: it was busy)")
            else:
                progress(f"warning: could not unmount {point}")
    return actions


def parse_binfmt_entry(text: str) -> dict:
    """Parse /proc/sys/fs/binfmt_misc/<name>: enabled, interpreter, flags."""
    info = {"enabled": False, "interpreter": "", "flags": ""}
    for line in text.splitlines():
        line = line.strip()
        if line == "enabled":
            info["enabled"] = True
        elif line.startswith("interpreter "):
            info["interpreter"] = line.split(None, 1)[1]
        elif line.startswith("flags:"):
            info["flags"] = line.split(":", 1)[1].strip()
    return info


def ensure_binfmt(arch: str, binfmt_dir: Path = BINFMT_DIR, native: str | None = None,
                  fix: bool = True) -> dict | None:
    """Make sure the kernel can run `arch` binaries via qemu-user; None when arch is native.

    Tries the cheap fixes first (mount binfmt_misc, `update-binfmts --enable`), then says which
    package to install.
    """
    if arch == (native or host_arch()):
        return None
    handler = f"qemu-{arch}"
    if fix and not (binfmt_dir / "register").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(binfmt_dir)],
                       capture_output=True)
    if not (binfmt_dir / "register").exists():
        raise LabError(
            f"binfmt_misc is not available at {binfmt_dir}; mount it with "
            f"`mount -t binfmt_misc binfmt_misc {binfmt_dir}` (the kernel needs CONFIG_BINFMT_MISC)"
        )
    entry = binfmt_dir / handler
    if fix and (not entry.exists() or not parse_binfmt_entry(entry.read_text())["enabled"]):
        if shutil.which("update-binfmts"):
            subprocess.run(["update-binfmts", "--enable", handler], capture_output=True)
    if not entry.exists():
        raise LabError(
            f"no binfmt_misc handler {handler} is registered, so {arch} binaries cannot run; "
            f"install it: `apt-get install qemu-user-static binfmt-support`, then "
            f"`update-binfmts --enable {handler}`"
        )
    info = parse_binfmt_entry(entry.read_text())
    if not info["enabled"]:
        raise LabError(f"binfmt_misc handler {entry} is disabled; run `update-binfmts --enable {handler}`")
    return info


def provide_interpreter(root: Path, info: dict | None) -> None:
    """Without the F flag the kernel looks for the interpreter inside the chroot: copy it in."""
    if not info or "F" in info["flags"] or not info["interpreter"]:
        return
    src = Path(info["interpreter"])
    dest = root / str(src).lstrip("/")
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)


def authorize_key(root: Path, pubkey: str) -> None:
    """Put the client key in root's authorized_keys inside the image (once)."""
    ssh_dir = root / "root" / ".ssh"
    ssh_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(ssh_dir, 0o700)
    auth = ssh_dir / "authorized_keys"
    current = auth.read_text() if auth.is_file() and not auth.is_symlink() else ""
    if pubkey.strip() not in current.splitlines():
        current = (current.rstrip("\n") + "\n" if current.strip() else "") + pubkey.strip() + "\n"
    _write_in_root(root, "/root/.ssh/authorized_keys", current, 0o600)
    os.chown(ssh_dir, 0, 0)
    os.chown(auth, 0, 0)


def unlock_root_for_pubkey(root: Path) -> None:
    """With UsePAM=no sshd refuses a locked account ('!' password) even for key logins.

    Replace a leading '!' lock by '*' (no usable password, not locked). Debian's debootstrap
    leaves '*' already; RHEL-style exports (openEuler, Kylin) often ship '!!'.
    """
    shadow = root / "etc" / "shadow"
    if not shadow.is_file() or shadow.is_symlink():
        return
    lines = shadow.read_text().splitlines()
    changed = False
    for i, line in enumerate(lines):
        parts = line.split(":")
        if parts[0] == "root" and len(parts) > 1 and parts[1].startswith("!"):
            parts[1] = "*"
            lines[i] = ":".join(parts)
            changed = True
    if changed:
        _write_in_root(root, "/etc/shadow", "\n".join(lines) + "\n", 0o640)


def prepare_root(root: Path, pubkey: str, debian: bool) -> None:
    """Files sshd and apt need inside the image, refreshed on every up (cheap, idempotent)."""
    for rel in ("proc", "sys", "dev", "run", "tmp", "var/log"):
        (root / rel).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    (root / "run" / "sshd").mkdir(parents=True, exist_ok=True)  # sshd's privsep dir
    os.chmod(root / "run" / "sshd", 0o755)
    (root / "run" / "lock").mkdir(exist_ok=True)
    host_resolv = Path("/etc/resolv.conf")
    if host_resolv.is_file():
        _write_in_root(root, "/etc/resolv.conf", host_resolv.read_text())
    if debian:
        # Package installs must not start daemons: the chroot shares the host's network.
        policy = "#!/bin/sh\n# xch lab: no service starts in the chroot\nexit 101\n"
        _write_in_root(root, "/usr/sbin/policy-rc.d", policy, 0o755)
    authorize_key(root, pubkey)
    unlock_root_for_pubkey(root)


def ensure_apt_sources(root: Path, progress: Progress, sources: str | None = None) -> bool:
    """Give a Debian image the controller's release/updates/security suites; `apt-get update` when they changed.

    Runs on every `xch lab up`, so images built before the suites were configured get them too.
    Returns True when the sources changed (and the package lists were refreshed).
    """
    text = image_sources(DEBIAN_SUITE) if sources is None else sources
    target = root / IMAGE_SOURCES_FILE.lstrip("/")
    legacy = root / "etc" / "apt" / "sources.list"
    current = target.read_text() if target.is_file() and not target.is_symlink() else None
    legacy_text = legacy.read_text() if legacy.is_file() and not legacy.is_symlink() else ""
    if current == text and legacy_text in ("", IMAGE_SOURCES_LIST_NOTE):
        return False
    _write_in_root(root, IMAGE_SOURCES_FILE, text)
    if legacy.exists() or legacy.is_symlink():
        _write_in_root(root, "/etc/apt/sources.list", IMAGE_SOURCES_LIST_NOTE)  # debootstrap's one line
    progress(f"{root.name}: apt sources set to release, updates and security; running apt-get update...")
    try:
        run_cmd(["chroot", str(root), "apt-get", "-q", "update"], f"apt-get update in {root}", timeout=900)
    except LabError:
        target.unlink(missing_ok=True)  # so the next `xch lab up` tries again
        raise
    return True
