"""The qemu-system command line of a lab VM, and the host pieces it needs (binary, firmware).

One pure function builds the argument list, so every device and option is visible (and unit-tested)
in one place:

- the image's own kernel and initramfs, booted directly; on arm64 through UEFI firmware (edk2),
  because on `-M virt` SMBIOS tables reach the kernel only through UEFI;
- TCG with a 256 MB translation cache (the 1 GB default costs RSS, not speed), or KVM when the
  probe said it truly works;
- the root disk: a qcow2 overlay on the cached base image (a reset deletes the overlay);
- scratch disks for disk tests: a second virtio disk and an NVMe disk;
- NIC 1: virtio-net on user-mode networking (slirp) with sshd forwarded to a loopback address, so each
  VM has its own network stack (two VMs can both listen on 6379) and reaches the controller's package
  mirrors through qemu;
- NIC 2: an e1000e (another driver than virtio-net) on a link the VMs share: a qemu UDP socket pair
  on loopback;
- a watchdog: i6300esb, a PCI device, on both machines (`-M virt` has no watchdog of its own; the
  SBSA generic watchdog exists only on the sbsa-ref machine, which cannot boot a kernel directly);
- SMBIOS strings from the VM's lab profile; a virtio RNG so sshd does not wait for entropy.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import LabError
from harness.lab.vm.spec import AARCH64_FIRMWARE, ROOT_LABEL, VmSpec, smbios_args

QEMU_PACKAGE = {"qemu-system-aarch64": "qemu-system-arm", "qemu-system-x86_64": "qemu-system-x86"}

FIRMWARE_PACKAGE = {"aarch64-uefi": "qemu-efi-aarch64"}

KERNEL_CMDLINE = "root=LABEL={label} rw console={console} quiet crashkernel=128M net.ifnames=1 panic=10"


@dataclass(frozen=True)
class VmPaths:
    """The files of one running VM instance under `<lab dir>/vm/run/<name>/` and its image."""

    image_dir: Path
    run_dir: Path

    @property
    def kernel(self) -> Path:
        return self.image_dir / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.image_dir / "initrd.img"

    @property
    def base(self) -> Path:
        return self.image_dir / "base.qcow2"

    @property
    def overlay(self) -> Path:
        return self.run_dir / "overlay.qcow2"

    @property
    def scratch_virtio(self) -> Path:
        return self.run_dir / "scratch-virtio.qcow2"

    @property
    def scratch_nvme(self) -> Path:
        return self.run_dir / "scratch-nvme.qcow2"

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "qemu.pid"

    @property
    def console(self) -> Path:
        return self.run_dir / "console.log"

    @property
    def qmp(self) -> Path:
        return self.run_dir / "qmp.sock"


def qemu_binary(spec: VmSpec) -> str:
    """The qemu-system binary's path; a clear error naming the package when it is missing."""
    found = shutil.which(spec.qemu)
    if found is None:
        raise LabError(f"{spec.name} needs {spec.qemu}, which is not installed: "
                       f"`apt-get install {QEMU_PACKAGE[spec.qemu]}`")
    return found


def firmware_file(spec: VmSpec, candidates: tuple[str, ...] = AARCH64_FIRMWARE) -> str | None:
    """The UEFI firmware a VM boots through (arm64), None when it needs none; missing is an error."""
    if not spec.firmware:
        return None
    for path in candidates:
        if Path(path).is_file():
            return path
    raise LabError(f"{spec.name} boots through UEFI firmware, and none was found ({', '.join(candidates)}): "
                   f"`apt-get install {FIRMWARE_PACKAGE[spec.firmware]}`")


def kernel_cmdline(spec: VmSpec, extra: str = "") -> str:
    line = KERNEL_CMDLINE.format(label=ROOT_LABEL, console=spec.console)
    return f"{line} {extra}".strip()


def accel_args(spec: VmSpec, accel: str, kvm_cpu: str = "host") -> list[str]:
    if accel == "kvm":
        return ["-accel", "kvm", "-cpu", kvm_cpu]
    return ["-accel", "tcg,tb-size=256", "-cpu", spec.tcg_cpu]


def qemu_args(spec: VmSpec, paths: VmPaths, accel: str, binary: str, firmware: str | None,
              kvm_cpu: str = "host") -> list[str]:
    """The full qemu-system command line of one VM (it daemonizes; the pid file tells its pid)."""
    link_local = f"{spec.link_local[0]}:{spec.link_local[1]}"
    link_remote = f"{spec.link_remote[0]}:{spec.link_remote[1]}"
    args = [binary, "-name", f"xch-{spec.name},process=xch-{spec.name}", "-M", spec.machine,
            *accel_args(spec, accel, kvm_cpu), "-smp", str(spec.cpus), "-m", str(spec.memory_mb)]
    if firmware:
        args += ["-bios", firmware]
    args += [
        "-kernel", str(paths.kernel), "-initrd", str(paths.initrd), "-append", kernel_cmdline(spec),
        "-drive", f"if=none,id=root,format=qcow2,file={paths.overlay},discard=unmap",
        "-device", "virtio-blk-pci,drive=root",
        "-drive", f"if=none,id=scratch0,format=qcow2,file={paths.scratch_virtio}",
        "-device", "virtio-blk-pci,drive=scratch0,serial=XCHLAB-SCRATCH-VD",
        "-drive", f"if=none,id=nvme0,format=qcow2,file={paths.scratch_nvme}",
        "-device", "nvme,drive=nvme0,serial=XCHLAB-SCRATCH-NVME",
        "-netdev", f"user,id=net0,hostfwd=tcp:{spec.host}:{spec.port}-:22",
        "-device", f"virtio-net-pci,netdev=net0,mac={spec.mac},romfile=",
        "-netdev", f"socket,id=link0,udp={link_remote},localaddr={link_local}",
        "-device", f"e1000e,netdev=link0,mac={spec.link_mac},romfile=",
        "-device", spec.watchdog,
        "-device", "virtio-rng-pci",
        *smbios_args(spec.smbios),
        "-nodefaults", "-display", "none", "-monitor", "none",
        "-serial", f"file:{paths.console}",
        "-qmp", f"unix:{paths.qmp},server=on,wait=off",
        "-daemonize", "-pidfile", str(paths.pidfile),
    ]
    return args


def qemu_version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.splitlines()[0].strip() if out else ""


def create_overlay(base: Path, overlay: Path) -> None:
    """A fresh qcow2 overlay backed by the (read-only) base image."""
    _qemu_img(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base), str(overlay)], overlay)


def create_scratch(path: Path, size: str = "1G") -> None:
    _qemu_img(["create", "-q", "-f", "qcow2", str(path), size], path)


def _qemu_img(args: list[str], path: Path) -> None:
    if shutil.which("qemu-img") is None:
        raise LabError("qemu-img is not installed: `apt-get install qemu-utils`")
    path.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["qemu-img", *args], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise LabError(f"qemu-img {args[0]} {path} failed: {(proc.stderr or proc.stdout).strip()}")
