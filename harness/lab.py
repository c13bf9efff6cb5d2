"""The local lab: real arm64 and amd64 Debian userlands reachable over SSH on loopback.

Nobody on the team has a Kunpeng server, so `xch lab up` gives the harness real targets to drive:
a Debian bookworm arm64 root filesystem run under qemu-user emulation (binfmt_misc with the F
flag, so the chroot needs no interpreter of its own) and an amd64 one as the native baseline.
Each runs its own sshd, chrooted into the image, on its own loopback address and port, so the
rest of the harness talks to them exactly as it talks to a real machine (key auth, strict host
key checking, nothing lab-specific in the transport).

Layout under the lab dir (`$XCH_LAB_DIR`, default /var/lib/xch/lab):

    images/<image>.partial   a build in progress; never taken as cached
    images/<image>           a finished image; it is also the running instance (see below)
    logs/<image>.log         debootstrap / tar output of the build
    id_ed25519[.pub]         the client key pair, authorized for root in every image
    known_hosts              `[127.0.0.2]:2201 ssh-ed25519 AAAA...` lines, for strict checking
    state.json               extras to keep, per-target address/port/pid (written atomically)
    lock                     flock()ed by up/down so two invocations never interleave

Design choice: the instance IS the image dir. Copying a ~300 MB rootfs per `up` would cost time
and disk for little benefit; suites that install packages (apt-get works inside) leave them in
the image, which is what a long-lived lab machine does too. To start from scratch: `xch lab down`,
then delete `images/<image>`; the next `up` rebuilds it.

`lab_down` removes `targets/lab.toml` because an inventory pointing at dead targets would only
produce connection errors; `lab_up` writes it again.

Nothing here isolates the chroots from the host (same network, same PIDs, /dev bound in); the lab
is a test fixture on a throwaway machine, not a sandbox.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harness.core.errors import LabError
from harness.core.locks import folder_lock

DEFAULT_LAB_DIR = Path("/var/lib/xch/lab")
DEBIAN_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEBOOTSTRAP_INCLUDE = "openssh-server,python3,procps,iproute2"
BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
SSHD_PIDFILE = "/run/sshd.xch.pid"  # inside the chroot
SSHD_LOGFILE = "/var/log/sshd.xch.log"  # inside the chroot; sshd has no syslog there
BANNER_TIMEOUT = 30.0  # seconds; sshd under qemu-user takes about a second to come up
STATE_VERSION = 1
INVENTORY_HEADER = (
    "# Written by `xch lab up`; removed by `xch lab down`. "
    "Timings on lab-arm64 come from qemu-user emulation, not ARM silicon."
)
ARCHES = ("aarch64", "x86_64")
DEBIAN_ARCH = {"aarch64": "arm64", "x86_64": "amd64"}
ELF_MACHINE = {0xB7: "aarch64", 0x3E: "x86_64"}
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


# --------------------------------------------------------------------------- paths and basics


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
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def require_root(euid: int | None = None) -> None:
    """Fail early and clearly: chroot, mount and debootstrap all need root.

    `euid` is a parameter so the check can be tested without being root.
    """
    if (os.geteuid() if euid is None else euid) != 0:
        raise LabError(
            "the local lab needs root (it uses chroot, mount and debootstrap); "
            "re-run as root, e.g. `sudo xch lab up`"
        )


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


# --------------------------------------------------------------------------- TOML writing


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


def render_inventory(targets: list[LabTarget], identity_file: Path, known_hosts: Path) -> str:
    """The `targets/lab.toml` text the inventory loader reads (one [[target]] per lab machine)."""
    lines = [INVENTORY_HEADER]
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


# --------------------------------------------------------------------------- files and state


def atomic_write(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    """Write via temp file + fsync + rename, so a crash never leaves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    if _same_file(path, raw, mode):
        return  # an idempotent re-run leaves files (and their mtimes) untouched
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _same_file(path: Path, raw: bytes, mode: int) -> bool:
    try:
        if path.is_symlink() or (path.stat().st_mode & 0o7777) != mode:
            return False
        return path.read_bytes() == raw
    except OSError:
        return False


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
    atomic_write(path, json.dumps(state, indent=2, sort_keys=True) + "\n")


def _locked(directory: Path):
    """Serialize up/down: two concurrent runs would race on mounts and sshd starts."""
    return folder_lock(directory, "lock")


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
    atomic_write(path, data, mode)


# --------------------------------------------------------------------------- processes, ports


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


def read_banner(host: str, port: int, timeout: float = 3.0) -> str | None:
    """The SSH identification line the server sends first, or None if nothing sensible came."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            data = b""
            while b"\n" not in data and len(data) < 512:
                chunk = sock.recv(512)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    line = data.split(b"\n", 1)[0].strip().decode("ascii", "replace")
    return line if line.startswith("SSH-") else None


def ssh_answering(host: str, port: int, timeout: float = 3.0) -> bool:
    banner = read_banner(host, port, timeout)
    return bool(banner and banner.startswith("SSH-2.0"))


def wait_for_banner(host: str, port: int, timeout: float = BANNER_TIMEOUT) -> bool:
    """Poll until sshd says "SSH-2.0" on the port, or the timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ssh_answering(host, port, timeout=min(3.0, max(0.5, deadline - time.monotonic()))):
            return True
        time.sleep(0.2)
    return False


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


def is_our_sshd(pid: int, root: Path) -> bool:
    """True only for a live sshd chrooted into `root`, so a recycled pid is never killed."""
    if pid <= 1:
        return False
    return _proc_root(pid) == os.path.realpath(root) and "sshd" in _proc_cmdline(pid)


def read_pidfile(root: Path) -> int | None:
    try:
        return int((root / SSHD_PIDFILE.lstrip("/")).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def running_sshd(root: Path) -> int | None:
    """The pid of this image's sshd if it is alive, per its pid file and /proc checks."""
    pid = read_pidfile(root)
    return pid if pid is not None and is_our_sshd(pid, root) else None


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


# --------------------------------------------------------------------------- mounts


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


# --------------------------------------------------------------------------- binfmt / qemu


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


# --------------------------------------------------------------------------- images


def _remove_tree(path: Path, progress: Progress) -> None:
    """Delete a (partial) image, unmounting anything left in it first so rmtree stays inside it."""
    if not path.exists():
        return
    unmount_all_under(path, progress)
    if mounts_under(path):
        raise LabError(f"{path} still has mounts under it; unmount them before rebuilding")
    shutil.rmtree(path)


def build_debian_image(target: LabTarget, base: Path, progress: Progress) -> None:
    """debootstrap a minimal bookworm into images/<image>.partial, renamed only when complete."""
    if shutil.which("debootstrap") is None:
        raise LabError("debootstrap is not installed; run `apt-get install debootstrap`")
    final = base / "images" / target.image
    partial = final.with_name(final.name + ".partial")
    log = base / "logs" / f"{target.image}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    _remove_tree(partial, progress)
    partial.parent.mkdir(parents=True, exist_ok=True)
    mirror = os.environ.get("XCH_LAB_MIRROR", DEFAULT_MIRROR)
    args = ["debootstrap", f"--arch={DEBIAN_ARCH[target.arch]}", "--variant=minbase",
            f"--include={DEBOOTSTRAP_INCLUDE}", DEBIAN_SUITE, str(partial), mirror]
    progress(f"building {DEBIAN_ARCH[target.arch]} image {target.image} (debootstrap, ~2 min; log {log})...")
    started = time.monotonic()
    with open(log, "w") as fh:
        fh.write(f"# {' '.join(args)}\n")
        fh.flush()
        rc = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT).returncode
        fh.write(f"# exit {rc} after {time.monotonic() - started:.0f}s\n")
    if rc != 0:
        unmount_all_under(partial, progress)
        raise LabError(f"debootstrap of {target.image} failed (exit {rc}); see {log}")
    unmount_all_under(partial, progress)  # debootstrap normally cleans up; be sure
    os.rename(partial, final)
    progress(f"built {target.image} in {time.monotonic() - started:.0f}s")


def _hoist_single_dir(root: Path) -> None:
    """Some exports wrap the rootfs in one top-level dir; move its contents up a level."""
    entries = list(root.iterdir())
    if len(entries) != 1 or not entries[0].is_dir() or entries[0].is_symlink():
        return
    inner = entries[0]
    if (root / "etc").exists() or not (inner / "etc").is_dir():
        return
    tmp = root.with_name(root.name + ".hoist")
    os.rename(inner, tmp)
    os.rmdir(root)
    os.rename(tmp, root)


def find_in_root(root: Path, candidates: tuple[str, ...]) -> str | None:
    """The first candidate path that exists in the image (symlinks judged inside the image)."""
    for rel in candidates:
        path = root / rel.lstrip("/")
        if path.exists() or path.is_symlink():
            return rel
    return None


def elf_arch(root: Path) -> str | None:
    """The machine of the image's /bin/sh (resolving symlinks inside the image), if an ELF we know."""
    rel = "/bin/sh"
    for _ in range(10):
        path = root / rel.lstrip("/")
        if not path.is_symlink():
            break
        link = os.readlink(path)
        rel = link if link.startswith("/") else os.path.normpath(os.path.join(os.path.dirname(rel), link))
    for real in (root / rel.lstrip("/"), root / "usr" / rel.lstrip("/")):
        try:
            head = real.read_bytes()[:20] if real.is_file() else b""
        except OSError:
            continue
        if head[:4] == b"\x7fELF" and len(head) >= 20:
            order = "little" if head[5] == 1 else "big"
            return ELF_MACHINE.get(int.from_bytes(head[18:20], order), f"elf-{head[18]:#x}")
    return None


def check_rootfs(root: Path, name: str, arch: str) -> None:
    """An extra rootfs must contain sshd and be of the declared architecture."""
    if find_in_root(root, ("/usr/sbin/sshd", "/sbin/sshd")) is None:
        raise LabError(
            f"rootfs {name} has no sshd (/usr/sbin/sshd); install openssh-server in the image "
            "before exporting it"
        )
    found = elf_arch(root)
    if found is not None and found != arch:
        raise LabError(f"rootfs {name} was declared {arch} but its /bin/sh is {found}")


def extract_rootfs(spec: RootfsSpec, base: Path, progress: Progress) -> None:
    """Unpack a rootfs tarball into images/<name>.partial, check it, then rename into place."""
    src = Path(spec.file).absolute()
    if not src.is_file():
        raise LabError(
            f"rootfs tarball {src} for {spec.name} does not exist; give the right file, or drop "
            f"the {spec.name!r} entry from the extras in {base / 'state.json'}"
        )
    final = base / "images" / spec.name
    partial = final.with_name(final.name + ".partial")
    log = base / "logs" / f"{spec.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    _remove_tree(partial, progress)
    partial.mkdir(parents=True)
    progress(f"extracting {src.name} into {final}...")
    args = ["tar", "--numeric-owner", "-xpf", str(src), "-C", str(partial)]
    with open(log, "w") as fh:
        fh.write(f"# {' '.join(args)}\n")
        fh.flush()
        rc = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        raise LabError(f"extracting {src} failed (exit {rc}); see {log}")
    _hoist_single_dir(partial)
    try:
        check_rootfs(partial, spec.name, spec.arch)
    except LabError:
        _remove_tree(partial, progress)
        raise
    os.rename(partial, final)


# --------------------------------------------------------------------------- keys and config


def ensure_client_key(base: Path) -> Path:
    """The lab's client key pair (ed25519, no passphrase), made once."""
    key = base / "id_ed25519"
    if not key.exists() or not key.with_suffix(".pub").exists():
        key.unlink(missing_ok=True)
        key.with_suffix(".pub").unlink(missing_ok=True)
        run_cmd(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "xch-lab", "-f", str(key)],
                "generating the lab client key")
    os.chmod(key, 0o600)
    return key


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


def ensure_host_keys(root: Path) -> None:
    """Host keys via the image's own ssh-keygen -A (so the formats suit its sshd); host fallback."""
    if find_in_root(root, ("/usr/bin/ssh-keygen",)):
        run_cmd(["chroot", str(root), "/usr/bin/ssh-keygen", "-A"], f"generating host keys in {root}", 300)
    else:
        (root / "etc" / "ssh").mkdir(parents=True, exist_ok=True)
        run_cmd(["ssh-keygen", "-A", "-f", str(root)], f"generating host keys for {root}", 300)


def host_key_lines(root: Path, host: str, port: int) -> list[str]:
    """known_hosts lines for one target, ed25519 first (it is what clients will negotiate)."""
    lines = []
    for kind in ("ed25519", "ecdsa", "rsa"):
        pub = root / "etc" / "ssh" / f"ssh_host_{kind}_key.pub"
        if pub.is_file():
            fields = pub.read_text().split()
            if len(fields) >= 2:
                lines.append(f"[{host}]:{port} {fields[0]} {fields[1]}")
    if not lines:
        raise LabError(f"no host keys found in {root}/etc/ssh after ssh-keygen -A")
    return lines


def sshd_args(root: Path, target: LabTarget, sshd: str) -> list[str]:
    """The chrooted sshd command line: our address/port, key-only root login, no PAM/DNS."""
    return [
        "chroot", str(root), sshd,
        "-p", str(target.port),
        "-o", f"ListenAddress={target.host}",
        "-o", "UsePAM=no",
        "-o", "UseDNS=no",
        "-o", f"PidFile={SSHD_PIDFILE}",
        "-o", "PermitRootLogin=prohibit-password",
        "-o", "PasswordAuthentication=no",
        "-o", "PubkeyAuthentication=yes",
        "-o", "AuthorizedKeysFile=.ssh/authorized_keys",
        "-o", "MaxStartups=50:30:200",
        "-E", SSHD_LOGFILE,
    ]


def _sshd_log_tail(root: Path, lines: int = 15) -> str:
    try:
        return "\n".join((root / SSHD_LOGFILE.lstrip("/")).read_text().splitlines()[-lines:])
    except OSError:
        return "(no sshd log)"


def start_sshd(root: Path, target: LabTarget) -> int:
    """Start the chrooted sshd (it daemonizes itself) and return its pid once it answers."""
    sshd = find_in_root(root, ("/usr/sbin/sshd", "/sbin/sshd"))
    if sshd is None:
        raise LabError(f"image {root} has no sshd; install openssh-server in it")
    args = sshd_args(root, target, sshd)
    test = subprocess.run(args[:3] + ["-t"] + args[3:], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)
    if test.returncode != 0:
        raise LabError(f"sshd config test for {target.name} failed: {(test.stderr or test.stdout).strip()}")
    (root / SSHD_PIDFILE.lstrip("/")).unlink(missing_ok=True)
    # Output to DEVNULL, not pipes: the daemon must not keep our pipes open.
    rc = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL, timeout=120).returncode
    if rc != 0:
        raise LabError(f"sshd for {target.name} exited {rc}; log:\n{_sshd_log_tail(root)}")
    if not wait_for_banner(target.host, target.port):
        raise LabError(
            f"sshd for {target.name} did not answer on {target.host}:{target.port} within "
            f"{BANNER_TIMEOUT:.0f}s; log {root}{SSHD_LOGFILE}:\n{_sshd_log_tail(root)}"
        )
    pid = running_sshd(root)
    if pid is None:
        raise LabError(f"sshd for {target.name} answers but its pid file {SSHD_PIDFILE} is missing")
    return pid


# --------------------------------------------------------------------------- targets from state


def _validate_extra(spec: RootfsSpec, taken: set[str]) -> None:
    if spec.arch not in ARCHES:
        raise LabError(f"rootfs {spec.name}: arch must be one of {', '.join(ARCHES)}, not {spec.arch!r}")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec.name) or spec.name.endswith(".partial"):
        raise LabError(f"rootfs name {spec.name!r} must be letters, digits, '.', '_' or '-'")
    if spec.name in taken:
        raise LabError(f"rootfs name {spec.name!r} clashes with a built-in lab image")


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
    """Built-ins plus remembered extras; extras keep the address/port first given to them."""
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
        targets.append(LabTarget(f"lab-{record['name']}", record["name"], record["arch"],
                                 record["host"], int(record["port"]), labels, record["file"]))
    return targets


# --------------------------------------------------------------------------- public API


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
        atomic_write(base / "known_hosts", "\n".join(known) + "\n")
        inventory = Path(project_dir) / "targets" / "lab.toml"
        atomic_write(inventory, render_inventory(targets, key, base / "known_hosts"))
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
            root = base / "images" / t.image
            if not root.is_dir():
                continue
            pid = running_sshd(root)
            if pid is not None:
                _terminate([pid])
                actions.append(f"stopped sshd of {t.name} (pid {pid})")
            others = pids_in_root(root)
            if others:
                _terminate(others)
                actions.append(f"stopped {len(others)} other process(es) inside {t.name}")
            if t.name in state["targets"]:
                state["targets"][t.name]["pid"] = None
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
