"""The VM images' initramfs, built on the host in a second instead of by mkinitramfs under emulation.

Debian's kernels build virtio, virtio-blk and ext4 as modules, so the root disk needs an initramfs.
initramfs-tools would build it inside the image: for arm64 that is a fork-heavy shell script under
qemu-user, and the kernel's postinst and a later trigger build it twice (most of a 20-minute image
build). The lab's VMs need far less: load the few modules the root disk needs, mount it, hand over
to systemd. So the image build diverts update-initramfs, and this module writes a small newc cpio
from the image's own files: its static busybox, the modules (with their dependencies from the
image's modules.dep) and a 30-line /init. Everything else (NICs, NVMe, watchdog) is udev's job
after systemd starts, as on any server.

The same /init has a probe mode (`xch.probe=1` on the kernel command line): it prints a marker
with the time a shell loop took and powers off, which is what the KVM probe boots.
"""

from __future__ import annotations

import lzma
import os
import stat
from pathlib import Path

from harness.core.errors import LabError
from harness.lab.vm.spec import ROOT_LABEL

# What the root disk needs, in load order after dependencies; crc32c: ext4's metadata checksums ask
# the crypto API for it, which cannot load modules before the root is mounted.
ROOT_MODULES = ("virtio_pci", "virtio_blk", "crc32c_generic", "ext4")

PROBE_MARKER = "XCH-PROBE-OK"

INIT_SCRIPT = r"""#!/bin/busybox sh
# xch vm lab initramfs: load the root disk's modules, mount the root by label, start systemd.
b=/bin/busybox
$b mount -t proc proc /proc
$b mount -t sysfs sysfs /sys
$b mount -t devtmpfs devtmpfs /dev
for m in $($b cat /modules.order); do
  $b insmod "/lib/modules/$m.ko" 2>/dev/null || echo "xch-initramfs: insmod $m failed"
done
if $b grep -q 'xch.probe=1' /proc/cmdline; then
  t0=$($b cut -d' ' -f1 /proc/uptime); i=0
  while [ $i -lt 100000 ]; do i=$((i+1)); done
  t1=$($b cut -d' ' -f1 /proc/uptime)
  echo "__MARKER__ uptime=$t0 loop_end=$t1"
  $b poweroff -f
fi
dev=""; n=0
while [ -z "$dev" ] && [ $n -lt 300 ]; do
  dev=$($b findfs LABEL=__LABEL__ 2>/dev/null) || dev=""
  [ -n "$dev" ] || { $b sleep 0.1; n=$((n+1)); }
done
[ -n "$dev" ] || { echo "xch-initramfs: no disk labelled __LABEL__"; $b sh; }
$b mount -t ext4 -o rw "$dev" /root || { echo "xch-initramfs: cannot mount $dev"; $b sh; }
for d in dev proc sys; do $b mount -o move "/$d" "/root/$d"; done
exec $b switch_root /root /sbin/init
""".replace("__MARKER__", PROBE_MARKER).replace("__LABEL__", ROOT_LABEL)


def parse_modules_dep(text: str) -> dict[str, list[str]]:
    """modules.dep (`kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko ...`) -> {path: [dependency paths]}."""
    deps: dict[str, list[str]] = {}
    for line in text.splitlines():
        path, sep, rest = line.partition(":")
        if sep and path.strip():
            deps[path.strip()] = rest.split()
    return deps


def module_name(path: str) -> str:
    """`kernel/fs/ext4/ext4.ko.xz` -> `ext4` (dashes and underscores are the same to the kernel)."""
    base = os.path.basename(path)
    for suffix in (".xz", ".zst", ".gz"):
        base = base.removesuffix(suffix)
    return base.removesuffix(".ko").replace("-", "_")


def load_order(deps: dict[str, list[str]], wanted: tuple[str, ...]) -> list[str]:
    """Module paths to insmod, dependencies first; a wanted module the kernel has built in is skipped."""
    by_name = {module_name(p): p for p in deps}
    order: list[str] = []

    def visit(path: str, trail: tuple[str, ...]) -> None:
        if path in order or path in trail:
            return
        for dep in deps.get(path, []):
            visit(dep, trail + (path,))
        order.append(path)

    for name in wanted:
        path = by_name.get(name.replace("-", "_"))
        if path is not None:
            visit(path, ())
    return order


def _module_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(".xz"):
        return lzma.decompress(data)
    if path.name.endswith(".zst"):
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


class Cpio:
    """A newc ("070701") cpio archive, the format the kernel unpacks as its initramfs."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.ino = 1

    def _entry(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
        header = "070701" + "".join(f"{v:08x}" for v in fields)
        raw = header.encode() + name.encode() + b"\0"
        raw += b"\0" * (-len(raw) % 4) + data + b"\0" * (-len(data) % 4)
        self.chunks.append(raw)
        self.ino += 1

    def directory(self, name: str) -> None:
        self._entry(name, stat.S_IFDIR | 0o755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | mode, data)

    def char_device(self, name: str, major: int, minor: int) -> None:
        self._entry(name, stat.S_IFCHR | 0o600, rdev=(major, minor))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return b"".join(self.chunks)


def build_initramfs(root: Path, kernel_version: str) -> bytes:
    """The initramfs for an image root and its kernel: busybox, root-disk modules, /init."""
    busybox = root / "bin" / "busybox"
    if not busybox.is_file():
        raise LabError(f"{root} has no /bin/busybox (the image needs busybox-static for its initramfs)")
    moddir = root / "lib" / "modules" / kernel_version
    try:
        deps = parse_modules_dep((moddir / "modules.dep").read_text())
    except OSError as exc:
        raise LabError(f"cannot read {moddir}/modules.dep: {exc} (did depmod run in the image?)") from exc
    order = load_order(deps, ROOT_MODULES)
    found = {module_name(p) for p in order}
    missing = [m for m in ("virtio_blk", "ext4") if m not in found]
    if missing and not (moddir / "modules.builtin").is_file():
        raise LabError(f"kernel {kernel_version} in {root} has no module {', '.join(missing)}")
    archive = Cpio()
    for name in ("bin", "dev", "proc", "sys", "root", "lib", "lib/modules"):
        archive.directory(name)
    archive.char_device("dev/console", 5, 1)
    archive.char_device("dev/null", 1, 3)
    archive.file("bin/busybox", busybox.read_bytes(), 0o755)
    names = []
    for path in order:
        name = module_name(path)
        archive.file(f"lib/modules/{name}.ko", _module_bytes(moddir / path))
        names.append(name)
    archive.file("modules.order", ("\n".join(names) + "\n").encode())
    archive.file("init", INIT_SCRIPT.encode(), 0o755)
    return archive.finish()
