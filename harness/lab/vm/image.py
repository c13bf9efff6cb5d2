"""Building a VM base image once: mmdebstrap into a folder, set it up from the host, ext4 without loop mounts, qcow2.

Layout of one image under `<lab dir>/vm/images/<image>/` (built in `<image>.partial`, renamed
only when complete, so an interrupted build is never taken as cached):

    base.qcow2       the root file system (ext4 labelled xch-root), never written by a VM
    vmlinuz          the image's own kernel, booted directly by qemu
    initrd.img       the small initramfs of harness.lab.vm.initramfs
    host_keys        the image's sshd host keys (public halves), for known_hosts
    image.json       what was built: arch, kernel, packages, apt sources, client key, build time

Cost, which CI pays on a fresh machine: the arm64 userland is configured by dpkg under qemu-user
(its maintainer scripts are arm64 programs); everything that need not run emulated does not. The
initramfs is never built in the image (update-initramfs is diverted: see initramfs.py), man pages,
docs and locales are not unpacked, the files xch needs are written from the host, the apt lists
are kept (so the first install in a VM needs no `apt-get update`), and `mkfs.ext4 -d` plus
`qemu-img convert` turn the folder into a disk in seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import IO

from harness.core.errors import LabError
from harness.core.storage import atomic_write
from harness.lab.aptsources import IMAGE_SOURCES_FILE, IMAGE_SOURCES_LIST_NOTE, image_sources
from harness.lab.host import _write_in_root, authorize_key
from harness.lab.state import DEBIAN_SUITE, Progress
from harness.lab.vm.initramfs import build_initramfs
from harness.lab.vm.spec import ROOT_LABEL, VmSpec

IMAGE_PACKAGES = ("systemd-sysv", "udev", "dbus", "kmod", "openssh-server", "python3", "iproute2", "procps",
                  "netbase", "e2fsprogs", "busybox-static", "pciutils", "dmidecode")

DPKG_EXCLUDES = ("path-exclude=/usr/share/man/*", "path-exclude=/usr/share/doc/*",
                 "path-include=/usr/share/doc/*/copyright", "path-exclude=/usr/share/locale/*",
                 "path-exclude=/usr/share/info/*")

ROOT_SIZE = "6G"  # virtual; the qcow2 holds only what is written

# Runs inside mmdebstrap after the essential packages, before the kernel: no initramfs in the image.
NO_INITRAMFS_HOOK = (
    'chroot "$1" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs && '
    "printf '#!/bin/sh\\n# xch vm lab: the initramfs is built on the host (harness/lab/vm/initramfs.py)\\nexit 0\\n' "
    '> "$1/usr/sbin/update-initramfs" && chmod 755 "$1/usr/sbin/update-initramfs"'
)

# Timers that would compete with the tests for an emulated CPU; a lab VM is updated by rebuilding.
MASKED_UNITS = ("apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer", "fstrim.timer",
                "e2scrub_reap.service")

SSHD_DROPIN = """# xch vm lab: key-only root login, as on the chroot lab; many parallel sessions.
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
MaxStartups 50:30:200
"""

JOURNALD_DROPIN = "[Journal]\nStorage=volatile\nRuntimeMaxUse=32M\n"


def required_tools() -> dict[str, str]:
    """Host tool -> the Debian package that provides it, for a clear error before a build starts."""
    return {"mmdebstrap": "mmdebstrap", "mkfs.ext4": "e2fsprogs", "qemu-img": "qemu-utils"}


def check_build_tools(spec: VmSpec) -> None:
    missing = [pkg for tool, pkg in required_tools().items() if shutil.which(tool) is None]
    if spec.arch == "aarch64" and not Path("/usr/bin/qemu-aarch64-static").exists() \
            and shutil.which("qemu-aarch64") is None:
        missing.append("qemu-user-static")
    if missing:
        raise LabError(f"building {spec.image} needs {', '.join(sorted(set(missing)))}: "
                       f"`apt-get install {' '.join(sorted(set(missing)))}`")


def _network_files(spec: VmSpec) -> dict[str, str]:
    return {
        "/etc/systemd/network/10-xch-slirp.network":
            f"# xch vm lab: user-mode network (qemu slirp), DHCP from qemu\n[Match]\nMACAddress={spec.mac}\n\n"
            "[Network]\nDHCP=ipv4\nLinkLocalAddressing=no\n",
        "/etc/systemd/network/20-xch-link.network":
            f"# xch vm lab: the link the lab's VMs share (qemu UDP socket pair on loopback)\n[Match]\n"
            f"MACAddress={spec.link_mac}\n\n[Network]\nAddress={spec.link_address}\nLinkLocalAddressing=no\n"
            "ConfigureWithoutCarrier=yes\n",
        "/etc/resolv.conf": "# xch vm lab: qemu's user-mode DNS\nnameserver 10.0.2.3\n",
    }


def _link(root: Path, rel: str, target: str) -> None:
    path = root / rel.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.exists():
        path.unlink()
    os.symlink(target, path)


def customize(root: Path, spec: VmSpec, pubkey: str, sources: str) -> None:
    """Everything xch needs in the image, written from the host (nothing here runs emulated)."""
    files = {
        "/etc/hostname": f"{spec.name}\n",
        "/etc/hosts": f"127.0.0.1\tlocalhost\n127.0.1.1\t{spec.name}\n::1\tlocalhost ip6-localhost ip6-loopback\n",
        "/etc/fstab": f"# xch vm lab\nLABEL={ROOT_LABEL}\t/\text4\trw,errors=remount-ro\t0\t0\n",
        "/etc/ssh/sshd_config.d/xch.conf": SSHD_DROPIN,
        "/etc/systemd/journald.conf.d/xch.conf": JOURNALD_DROPIN,
        IMAGE_SOURCES_FILE: sources,
        "/etc/apt/sources.list": IMAGE_SOURCES_LIST_NOTE,
        **_network_files(spec),
    }
    for rel, text in files.items():
        _write_in_root(root, rel, text)
    for leftover in (root / "etc" / "apt" / "sources.list.d").glob("*"):
        if leftover.name != Path(IMAGE_SOURCES_FILE).name:
            leftover.unlink()
    _link(root, "/etc/systemd/system/multi-user.target.wants/systemd-networkd.service",
          "/lib/systemd/system/systemd-networkd.service")
    _link(root, "/etc/systemd/system/sockets.target.wants/systemd-networkd.socket",
          "/lib/systemd/system/systemd-networkd.socket")
    _link(root, "/etc/systemd/system/dbus-org.freedesktop.network1.service",
          "/lib/systemd/system/systemd-networkd.service")
    for unit in MASKED_UNITS:
        _link(root, f"/etc/systemd/system/{unit}", "/dev/null")
    machine_id = root / "etc" / "machine-id"
    machine_id.write_text("")  # a new one at every first boot (so after every reset too)
    authorize_key(root, pubkey)


def kernel_version(root: Path) -> str:
    """The version of the image's one kernel (vmlinuz-<version> in /boot)."""
    found = sorted(p.name.removeprefix("vmlinuz-") for p in (root / "boot").glob("vmlinuz-*"))
    if len(found) != 1:
        raise LabError(f"expected one kernel in {root}/boot, found {found or 'none'}")
    return found[0]


def _package_versions(root: Path, names: tuple[str, ...]) -> dict[str, str]:
    """Versions from the image's dpkg status file (read on the host, no emulation)."""
    versions: dict[str, str] = {}
    current = ""
    try:
        text = (root / "var" / "lib" / "dpkg" / "status").read_text(errors="replace")
    except OSError:
        return versions
    for line in text.splitlines():
        if line.startswith("Package: "):
            current = line.split(None, 1)[1]
        elif line.startswith("Version: ") and current in names:
            versions[current] = line.split(None, 1)[1]
    return versions


def _run_logged(args: list[str], log: IO[str], what: str, timeout: float, stdin_text: str | None = None) -> None:
    log.write(f"# {' '.join(args)}\n")
    log.flush()
    try:
        proc = subprocess.run(args, input=stdin_text, stdout=log, stderr=subprocess.STDOUT, timeout=timeout,
                              text=True)
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{what} timed out after {timeout:.0f}s; see {log.name}") from exc
    if proc.returncode != 0:
        raise LabError(f"{what} failed (exit {proc.returncode}); see {log.name}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def build_vm_image(spec: VmSpec, images: Path, logs: Path, pubkey: str, progress: Progress,
                   mirror_sources: str | None = None) -> dict:
    """Build images/<image> for `spec` (see the module docstring); returns its image.json."""
    check_build_tools(spec)
    final = images / spec.image
    partial = images / f"{spec.image}.partial"
    _remove(partial)
    partial.mkdir(parents=True)
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{spec.image}.log"
    root = partial / "root"
    sources = mirror_sources or image_sources(DEBIAN_SUITE)
    started = time.monotonic()
    progress(f"building {spec.deb_arch} VM image {spec.image} (mmdebstrap; log {log_path})...")
    args = ["mmdebstrap", "--mode=root", "--variant=apt", f"--architectures={spec.deb_arch}",
            f"--include={','.join((spec.kernel_package,) + IMAGE_PACKAGES)}",
            *[f"--dpkgopt={opt}" for opt in DPKG_EXCLUDES],
            f"--essential-hook={NO_INITRAMFS_HOOK}", "--skip=cleanup/apt/lists",
            DEBIAN_SUITE, str(root), "-"]
    timings: dict[str, float] = {}
    with open(log_path, "w") as log:
        _run_logged(args, log, f"mmdebstrap of {spec.image}", timeout=3600, stdin_text=sources)
        timings["mmdebstrap_s"] = round(time.monotonic() - started, 1)
        customize(root, spec, pubkey, sources)
        version = kernel_version(root)
        shutil.copyfile(root / "boot" / f"vmlinuz-{version}", partial / "vmlinuz")
        atomic_write(partial / "initrd.img", build_initramfs(root, version), 0o644)
        keys = [p.read_text().strip() for p in sorted((root / "etc" / "ssh").glob("ssh_host_*_key.pub"))]
        if not keys:
            raise LabError(f"{spec.image}: openssh-server left no host keys in /etc/ssh")
        (partial / "host_keys").write_text("\n".join(keys) + "\n")
        packages = _package_versions(root, (f"linux-image-{version}", "systemd", "openssh-server", "python3",
                                            "libc6"))
        step = time.monotonic()
        _run_logged(["mkfs.ext4", "-q", "-F", "-L", ROOT_LABEL, "-d", str(root), str(partial / "root.raw"),
                     ROOT_SIZE], log, f"mkfs.ext4 of {spec.image}", timeout=900)
        _run_logged(["qemu-img", "convert", "-O", "qcow2", str(partial / "root.raw"), str(partial / "base.qcow2")],
                    log, f"qemu-img convert of {spec.image}", timeout=900)
        timings["disk_s"] = round(time.monotonic() - step, 1)
    (partial / "root.raw").unlink()
    shutil.rmtree(root)
    info = {
        "image": spec.image, "arch": spec.arch, "suite": DEBIAN_SUITE, "kernel": version, "packages": packages,
        "client_key": pubkey.strip(), "apt_sources": sources, "built_at": time.time(),
        "build_seconds": round(time.monotonic() - started, 1), **timings,
    }
    atomic_write(partial / "image.json", json.dumps(info, indent=2) + "\n", 0o644)
    os.rename(partial, final)
    progress(f"built {spec.image} in {info['build_seconds']:.0f}s (kernel {version})")
    return info


def read_image_info(images: Path, image: str) -> dict | None:
    """image.json of a finished image, or None when it is not built."""
    path = images / image / "image.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def remove_image(images: Path, image: str) -> bool:
    """Delete a built (or half-built) image; True when something was removed."""
    removed = False
    for path in (images / image, images / f"{image}.partial"):
        if path.exists():
            _remove(path)
            removed = True
    return removed
