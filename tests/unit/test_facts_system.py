"""Facts of the machine beneath the OS (harness.facts.system) against whole facts-script outputs of the lab's machines."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.facts import system
from harness.facts.gather import FACTS_SCRIPT, facts_from_sections, parse_sections

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "facts"


def facts(name: str) -> dict:
    return facts_from_sections(parse_sections((FIXTURES / name).read_text()))


def test_arm64_vm_identity_devices_and_kernel() -> None:
    f = facts("facts-script.vm-arm64-tcg")
    assert (f["arch"], f["cpu_vendor"], f["cpu_model"]) == ("aarch64", "ARM", "Neoverse-N1")
    # systemd-detect-virt reads "vm-other" (the SMBIOS profile hides QEMU's name); fw_cfg says qemu, i.e. TCG.
    assert (f["virtualization"], f["hypervisor_accel"], f["emulation"]) == ("qemu", "tcg", "tcg")
    assert (f["system_vendor"], f["system_model"], f["system_serial"]) == ("Huawei", "TaiShan 200 (Model 2280)",
                                                                         "XCHLAB-ARM64-0001")
    assert "xch lab profile" in f["bios_vendor"] and f["firmware"] == "uefi" and f["board_model"] == "BC82AMDD"
    ids = {(d["vendor_id"], d["device_id"]): d for d in f["pci_devices"]}
    assert ids[("8086", "10d3")]["driver"] == "e1000e" and ids[("8086", "10d3")]["subsystem_vendor_id"] == "8086"
    assert ids[("1b36", "0010")]["driver"] == "nvme" and ids[("1b36", "0010")]["class"] == "0108"
    assert ids[("8086", "25ab")]["name"] == "Intel Corporation 6300ESB Watchdog Timer"
    assert f["watchdogs"] == [{"name": "watchdog0", "identity": "i6300ESB timer"}]
    assert {d["serial"] for d in f["block_devices"]} >= {"XCHLAB-SCRATCH-VD", "XCHLAB-SCRATCH-NVME"}
    assert [n["driver"] for n in f["nics"]] == ["virtio_net", "e1000e"]
    assert f["kernel_tainted"] == 0 and f["kernel_taint_flags"] == [] and f["crashkernel_bytes"] == 128 << 20
    assert "crashkernel=128M" in f["kernel_cmdline"] and "virtio_blk" in f["kernel_modules"]
    assert f["kernel_config"]["options"]["CONFIG_ARM64_4K_PAGES"] == "y"
    assert len(f["kernel_config"]["sha256"]) == 64


def test_x86_vm_under_tcg() -> None:
    f = facts("facts-script.vm-x86-tcg")
    assert (f["virtualization"], f["emulation"]) == ("qemu", "tcg")  # systemd-detect-virt itself said qemu
    assert f["system_model"] == "Generic x86 Server 2U" and f["firmware"] == "bios"
    drivers = {d["driver"] for d in f["pci_devices"]}
    assert {"e1000e", "nvme", "virtio-pci", "i6300ESB_timer"} <= drivers
    ahci = next(d for d in f["pci_devices"] if d["driver"] == "ahci")
    assert ahci["driver_version"] == "3.0"  # /sys/module/ahci/version


def test_chroot_describes_its_host_and_keeps_qemu_user_emulation() -> None:
    f = facts("facts-script.lab-x86-chroot")
    assert f["virtualization"] == "kvm" and f["emulation"] == ""  # kvm-clock: the host is a KVM guest
    assert f["system_vendor"] == "" and f["kernel_config"]["source"] == "/proc/config.gz"


def test_placeholders_and_garbage() -> None:
    dmi = system.dmi_facts("sys_vendor=To be filled by O.E.M.\nproduct_name=Default string\nbios_vendor=EFI\n", "")
    assert dmi["system_vendor"] == "" and dmi["system_model"] == "" and dmi["bios_vendor"] == "EFI"
    assert system.parse_pci_sysfs("garbage\n0000:00:01.0 0x1af4\n") == []
    assert system.virtualization("", "", ["hypervisor"]) == {"virtualization": "vm-other", "hypervisor_accel": ""}
    assert system.virtualization("none", "", []) == {"virtualization": "none", "hypervisor_accel": ""}
    assert system.taint_flags(12288) == ["O (out-of-tree module)", "E (unsigned module)"]
    assert system.kernel_facts({"tainted": "x", "crashkernel": ""})["kernel_tainted"] is None


@pytest.mark.parametrize("section", ["virt", "dmi", "pci", "block", "net", "watchdog", "kernel_cmdline", "tainted",
                                     "modules", "crashkernel", "kernel_config"])
def test_script_prints_every_section(section: str) -> None:
    assert f"s {section}" in FACTS_SCRIPT
