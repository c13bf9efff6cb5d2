"""Each lab target's own sshd, chrooted into its image: keys, command line, start, and liveness checks.

The lab's sshd is what makes a chroot look like a machine to the rest of xch: key-only root login,
strict host keys (known_hosts written from the image's own host keys), no PAM, no DNS.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

from harness.core.errors import LabError
from harness.lab.host import _proc_cmdline, _proc_root, run_cmd
from harness.lab.images import find_in_root
from harness.lab.state import LabTarget

SSHD_PIDFILE = "/run/sshd.xch.pid"  # inside the chroot


SSHD_LOGFILE = "/var/log/sshd.xch.log"  # inside the chroot; sshd has no syslog there


BANNER_TIMEOUT = 30.0  # seconds; sshd under qemu-user takes about a second to come up


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
