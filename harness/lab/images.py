"""Building and checking the lab's root filesystems: debootstrap of Debian, or a vendor's rootfs tarball.

A build goes into images/<image>.partial and is renamed into place only when complete, so an
interrupted build is never taken as cached.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from harness.core import arch as arches
from harness.core.errors import LabError
from harness.lab.host import mounts_under, unmount_all_under
from harness.lab.state import DEBIAN_SUITE, LabTarget, Progress, RootfsSpec

DEFAULT_MIRROR = "http://deb.debian.org/debian"


DEBOOTSTRAP_INCLUDE = "openssh-server,python3,procps,iproute2"


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
    args = ["debootstrap", f"--arch={arches.debian_arch(target.arch)}", "--variant=minbase",
            f"--include={DEBOOTSTRAP_INCLUDE}", DEBIAN_SUITE, str(partial), mirror]
    progress(f"building {arches.debian_arch(target.arch)} image {target.image} (debootstrap, ~2 min; log {log})...")
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
        machine = arches.from_elf_header(head)
        if machine:
            return machine
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
