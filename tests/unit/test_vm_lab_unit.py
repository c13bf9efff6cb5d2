"""Unit tests for the VM lab's pure parts and the lab images' apt suites (no root, no qemu run)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from harness.core.errors import InputError, LabError
from harness.lab import aptsources
from harness.lab.host import ensure_apt_sources
from harness.lab.state import LabTarget, render_inventory
from harness.lab.vm import initramfs, kvm, qemu, spec
from harness.lab.vm.control import INVENTORY_HEADER, select_specs

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


# ----------------------------------------------------------------- apt suites (issue 12)


def test_controller_deb822_gives_release_updates_security() -> None:
    text = aptsources.image_sources("bookworm", FIXTURES / "apt" / "controller-debian12")
    entries = aptsources.parse_deb822(text)
    suites = [s for e in entries for s in e.suites]
    assert suites == ["bookworm", "bookworm-updates", "bookworm-security"]
    assert {e.uri for e in entries} == {"http://deb.debian.org/debian", "http://deb.debian.org/debian-security"}


def test_one_line_installer_file_keeps_its_mirrors_and_components() -> None:
    entries = aptsources.image_entries(aptsources.controller_entries(FIXTURES / "apt" / "controller-installer"),
                                       "bookworm")
    by_uri = {e.uri: e for e in entries}
    assert by_uri["http://deb.debian.org/debian/"].suites == ("bookworm", "bookworm-updates")
    assert by_uri["http://security.debian.org/debian-security"].suites == ("bookworm-security",)
    assert all(e.components == ("main", "non-free-firmware") for e in entries)
    assert len(entries) == 2  # deb-src lines and the cdrom comment are not entries


def test_release_only_controller_is_completed_and_foreign_archives_stay_out() -> None:
    controller = aptsources.controller_entries(FIXTURES / "apt" / "controller-mixed")
    assert {e.uri for e in controller} >= {"https://packages.cloud.google.com/apt", "https://deb.nodesource.com/node_20.x"}
    entries = aptsources.image_entries(controller, "bookworm")
    assert [s for e in entries for s in e.suites] == ["bookworm", "bookworm-updates", "bookworm-security"]
    assert not any("google" in e.uri or "nodesource" in e.uri for e in entries)


def test_suite_kinds() -> None:
    assert aptsources.suite_kind("bookworm", "bookworm") == "release"
    assert aptsources.suite_kind("bookworm-updates", "bookworm") == "updates"
    assert aptsources.suite_kind("bookworm-security", "bookworm") == "security"
    assert aptsources.suite_kind("bookworm-backports", "bookworm") is None
    assert aptsources.suite_kind("cloud-sdk-bookworm", "bookworm") is None


def test_images_built_before_get_the_suites_at_the_next_up(tmp_path: Path, monkeypatch) -> None:
    """debootstrap's one-line file is replaced and apt-get update runs once; a failed update is tried again.

    apt-get itself is replaced by a recorder here (a fake image has no apt); the chroot lab test runs the real one.
    """
    from harness.lab import host

    root = tmp_path / "img"
    (root / "etc" / "apt").mkdir(parents=True)
    (root / "etc" / "apt" / "sources.list").write_text("deb http://deb.debian.org/debian bookworm main\n")
    text = aptsources.image_sources("bookworm", FIXTURES / "apt" / "controller-debian12")
    commands: list[list[str]] = []

    def failing(args, what, timeout=0):
        raise LabError(f"{what} failed")

    monkeypatch.setattr(host, "run_cmd", failing)
    with pytest.raises(LabError, match="apt-get update"):
        ensure_apt_sources(root, lambda m: None, text)
    assert not (root / aptsources.IMAGE_SOURCES_FILE.lstrip("/")).exists()  # so the next up tries again
    monkeypatch.setattr(host, "run_cmd", lambda args, what, timeout=0: commands.append(args))
    assert ensure_apt_sources(root, lambda m: None, text) is True
    assert commands == [["chroot", str(root), "apt-get", "-q", "update"]]
    assert (root / aptsources.IMAGE_SOURCES_FILE.lstrip("/")).read_text() == text
    assert "deb " not in (root / "etc" / "apt" / "sources.list").read_text()
    assert ensure_apt_sources(root, lambda m: None, text) is False and len(commands) == 1


# ----------------------------------------------------------------- initramfs


MODULES_DEP = """kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/fs/jbd2/jbd2.ko:
kernel/fs/mbcache.ko:
kernel/lib/crc16.ko:
kernel/crypto/crc32c_generic.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/block/virtio_blk.ko:
kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko:
"""  # the lines of these modules in Debian 12's 6.1.0-50-arm64 modules.dep


def test_load_order_puts_dependencies_first_and_skips_the_rest() -> None:
    order = initramfs.load_order(initramfs.parse_modules_dep(MODULES_DEP), initramfs.ROOT_MODULES)
    names = [initramfs.module_name(p) for p in order]
    assert names == ["virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci", "virtio_blk", "crc32c_generic",
                     "crc16", "mbcache", "jbd2", "ext4"]
    assert "e1000e" not in names  # udev loads NIC drivers after systemd starts


def test_module_names() -> None:
    assert initramfs.module_name("kernel/fs/ext4/ext4.ko.xz") == "ext4"
    assert initramfs.module_name("kernel/drivers/virtio/virtio-pci.ko") == "virtio_pci"


def _fake_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    moddir = root / "lib" / "modules" / "6.1.0-test"
    for line in MODULES_DEP.splitlines():
        path = moddir / line.split(":")[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\x7fELF fake module " + path.name.encode())
    (moddir / "modules.dep").write_text(MODULES_DEP)
    (root / "bin").mkdir()
    (root / "bin" / "busybox").write_bytes(b"\x7fELF fake busybox")
    return root


@pytest.mark.skipif(shutil.which("cpio") is None, reason="needs cpio to read the archive back")
def test_initramfs_is_a_newc_archive_the_cpio_tool_reads(tmp_path: Path) -> None:
    data = initramfs.build_initramfs(_fake_root(tmp_path), "6.1.0-test")
    listing = subprocess.run(["cpio", "-itv"], input=data, capture_output=True, timeout=30).stdout.decode()
    assert "init" in listing and "bin/busybox" in listing and "lib/modules/ext4.ko" in listing
    assert any(line.startswith("crw") and "dev/console" in line for line in listing.splitlines())
    out = tmp_path / "x"
    out.mkdir()
    subprocess.run(["cpio", "-id", "--quiet"], input=data, cwd=out, check=True, timeout=30)
    assert (out / "modules.order").read_text().split()[-1] == "ext4"
    assert os.access(out / "init", os.X_OK)
    assert "switch_root /root /sbin/init" in (out / "init").read_text()
    assert f"LABEL={spec.ROOT_LABEL}" in (out / "init").read_text()


def test_initramfs_needs_busybox_and_modules_dep(tmp_path: Path) -> None:
    root = _fake_root(tmp_path)
    (root / "bin" / "busybox").unlink()
    with pytest.raises(LabError, match="busybox-static"):
        initramfs.build_initramfs(root, "6.1.0-test")
    with pytest.raises(LabError, match="modules.dep"):
        initramfs.build_initramfs(_fake_root(tmp_path / "b"), "6.1.0-other")


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs sh")
def test_init_script_is_valid_sh() -> None:
    assert subprocess.run(["sh", "-n"], input=initramfs.INIT_SCRIPT.encode(), timeout=30).returncode == 0


# ----------------------------------------------------------------- qemu command line


def _paths(tmp_path: Path) -> qemu.VmPaths:
    return qemu.VmPaths(tmp_path / "images" / "img", tmp_path / "run" / "vm")


def _pairs(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == flag]


def test_arm64_command_line(tmp_path: Path) -> None:
    args = qemu.qemu_args(spec.VM_ARM64, _paths(tmp_path), "tcg", "/usr/bin/qemu-system-aarch64", "/fw/QEMU_EFI.fd")
    assert args[args.index("-cpu") + 1] == "neoverse-n1"
    assert args[args.index("-accel") + 1] == "tcg,tb-size=256"
    assert args[args.index("-bios") + 1] == "/fw/QEMU_EFI.fd"
    devices = _pairs(args, "-device")
    assert [d.split(",")[0] for d in devices] == ["virtio-blk-pci", "virtio-blk-pci", "nvme", "virtio-net-pci", "e1000e",
                                                  "i6300esb", "virtio-rng-pci"]
    netdevs = _pairs(args, "-netdev")
    assert netdevs[0] == "user,id=net0,hostfwd=tcp:127.0.2.1:2221-:22"
    assert netdevs[1] == "socket,id=link0,udp=127.0.2.2:2232,localaddr=127.0.2.1:2231"
    assert "console=ttyAMA0" in args[args.index("-append") + 1]
    assert str(_paths(tmp_path).overlay) in " ".join(args) and str(_paths(tmp_path).base) not in " ".join(args)


def test_x86_command_line_kvm_and_tcg(tmp_path: Path) -> None:
    tcg = qemu.qemu_args(spec.VM_X86, _paths(tmp_path), "tcg", "qemu-system-x86_64", None)
    kvm_args = qemu.qemu_args(spec.VM_X86, _paths(tmp_path), "kvm", "qemu-system-x86_64", None, kvm_cpu="host")
    assert tcg[tcg.index("-accel") + 1].startswith("tcg") and tcg[tcg.index("-cpu") + 1] == "max"
    assert kvm_args[kvm_args.index("-accel") + 1] == "kvm" and kvm_args[kvm_args.index("-cpu") + 1] == "host"
    assert "-bios" not in tcg  # SeaBIOS (the default) hands SMBIOS to the kernel on x86
    assert "console=ttyS0" in tcg[tcg.index("-append") + 1]


def test_vm_addresses_do_not_collide_with_the_chroot_lab_or_the_fleet() -> None:
    from harness.lab.state import builtin_targets

    chroot = {(t.host, t.port) for t in builtin_targets("x86_64")}
    vms = {(s.host, s.port) for s in spec.VM_TARGETS}
    assert not chroot & vms and len(vms) == 2
    assert not any(host.startswith("127.0.1.") or host in ("127.0.0.2", "127.0.0.3") for host, _ in vms)
    assert spec.VM_ARM64.link_local == spec.VM_X86.link_remote and spec.VM_X86.link_local == spec.VM_ARM64.link_remote


def test_smbios_profiles_are_marked_and_escaped() -> None:
    args = spec.smbios_args(spec.TAISHAN_200_LAB)
    type0 = next(a for a in args if a.startswith("type=0,"))
    assert "vendor=Huawei Technologies Co.,, Ltd." in type0  # a comma inside a value is doubled for qemu
    type1 = next(a for a in args if a.startswith("type=1,"))
    assert "product=TaiShan 200 (Model 2280)" in type1 and "version=xch lab profile" in type1
    for profile in (spec.TAISHAN_200_LAB, spec.GENERIC_X86_LAB):
        assert spec.LAB_PROFILE_MARK in profile.tables[1]["version"]
        assert profile.tables[1]["serial"].startswith("XCHLAB-")


def test_missing_firmware_and_qemu_are_clear_errors(monkeypatch) -> None:
    with pytest.raises(LabError, match="apt-get install qemu-efi-aarch64"):
        qemu.firmware_file(spec.VM_ARM64, candidates=("/nonexistent/QEMU_EFI.fd",))
    assert qemu.firmware_file(spec.VM_X86) is None
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(LabError, match="apt-get install qemu-system-arm"):
        qemu.qemu_binary(spec.VM_ARM64)


def test_unknown_vm_name_lists_the_known_ones() -> None:
    with pytest.raises(InputError, match="vm-arm64, vm-x86"):
        select_specs(["vm-sparc"])
    assert [s.name for s in select_specs(None)] == ["vm-arm64", "vm-x86"]


def test_vm_inventory_labels() -> None:
    target = LabTarget("vm-x86", "img", "x86_64", "127.0.2.2", 2222, {**spec.VM_X86.labels, "emulation": "tcg"}, "vm")
    text = render_inventory([target], Path("/k"), Path("/kh"), INVENTORY_HEADER)
    assert "timings are emulation, not silicon" in text
    labels = tomllib.loads(text)["target"][0]["labels"]
    assert labels["kind"] == "vm" and labels["emulation"] == "tcg" and labels["role"] == "baseline"
    assert labels.get("lab") != "true"  # `lab=true` keeps selecting the chroot lab's targets


# ----------------------------------------------------------------- KVM probe


def test_probe_console_parsing() -> None:
    assert kvm.parse_probe_console("...\nXCH-PROBE-OK uptime=1.50 loop_end=1.75\n") == pytest.approx(0.25)
    assert kvm.parse_probe_console("[    0.000000] Linux version 6.1\nProbing EDD (edd=off to disable)... ok") is None


def test_probe_verdict_is_cached_per_key(tmp_path: Path, monkeypatch) -> None:
    calls = []

    def fake_probe(*args, **kwargs):  # the boot itself is exercised by the VM lab tests; here only the cache
        calls.append(args)
        return {"kvm": False, "cpu": "", "reason": "test", "seconds": 0.0, "loop_seconds": None, "tries": []}

    monkeypatch.setattr(kvm, "run_probe", fake_probe)
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(b"k")
    first = kvm.kvm_verdict(tmp_path, spec.VM_X86, "qemu", "QEMU 7.2", kernel, kernel)
    again = kvm.kvm_verdict(tmp_path, spec.VM_X86, "qemu", "QEMU 7.2", kernel, kernel)
    assert len(calls) == 1 and not first["cached"] and again["cached"] and again["kvm"] is False
    kvm.kvm_verdict(tmp_path, spec.VM_X86, "qemu", "QEMU 8.0", kernel, kernel)  # another qemu: probed again
    assert len(calls) == 2
    assert json.loads((tmp_path / kvm.CACHE_FILE).read_text())["key"]["qemu"] == "QEMU 8.0"


def test_no_kvm_device_is_a_reason_not_a_crash(tmp_path: Path) -> None:
    assert "does not exist" in kvm.kvm_device_problem(tmp_path / "kvm")
