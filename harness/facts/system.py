"""Pure parsers for the machine beneath the OS: virtualisation, SMBIOS/DMI identity, PCI devices, kernel.

The facts script prints these sections (see gather.FACTS_SCRIPT); each parser takes their text and
returns plain data, never raising, like harness.facts.parsers. Real samples from the lab's VMs and
machines are in tests/fixtures/facts (SOURCES.md says where each came from).

A chroot has no kernel or devices of its own: there these facts describe the host, which is what
the chroot really runs on. On a full-system VM they describe the VM.
"""

from __future__ import annotations

import re
from typing import Any

from harness.facts.parsers import _never_raise, _text, _to_int

DMI_FIELDS = ("sys_vendor", "product_name", "product_version", "product_serial", "product_sku", "product_family",
              "board_vendor", "board_name", "board_version", "board_serial", "chassis_vendor", "chassis_version",
              "chassis_serial", "bios_vendor", "bios_version", "bios_date")

# Values firmware writes when nobody filled a field in; they mean "unknown".
DMI_PLACEHOLDERS = {"", "to be filled by o.e.m.", "default string", "not specified", "none", "0", "system serial number",
                    "not applicable", "unknown"}

# Kernel taint bits (Documentation/admin-guide/tainted-kernels.rst), bit -> letter and meaning.
TAINT_FLAGS = {
    0: ("P", "proprietary module"), 1: ("F", "module force-loaded"), 2: ("S", "kernel running on an out of spec system"),
    3: ("R", "module force-unloaded"), 4: ("M", "machine check"), 5: ("B", "bad page"), 6: ("U", "user-requested taint"),
    7: ("D", "kernel died recently (oops or BUG)"), 8: ("A", "ACPI table overridden"), 9: ("W", "kernel warning"),
    10: ("C", "staging driver"), 11: ("I", "firmware bug workaround"), 12: ("O", "out-of-tree module"),
    13: ("E", "unsigned module"), 14: ("L", "soft lockup"), 15: ("K", "live patched"), 16: ("X", "auxiliary taint"),
    17: ("T", "built with struct randomization"), 18: ("N", "in-kernel test"),
}

# The kernel configuration options the facts keep (the whole config is summarised by its hash).
KERNEL_CONFIG_OPTIONS = (
    "CONFIG_HZ", "CONFIG_PREEMPT", "CONFIG_PREEMPT_VOLUNTARY", "CONFIG_PREEMPT_NONE", "CONFIG_ARM64_4K_PAGES",
    "CONFIG_ARM64_64K_PAGES", "CONFIG_ARM64_VA_BITS", "CONFIG_NR_CPUS", "CONFIG_NUMA", "CONFIG_KVM",
    "CONFIG_BPF_SYSCALL", "CONFIG_DEBUG_INFO_BTF", "CONFIG_MODULE_SIG", "CONFIG_MODULE_SIG_FORCE",
    "CONFIG_SECURITY_SELINUX", "CONFIG_SECURITY_APPARMOR", "CONFIG_CGROUPS", "CONFIG_MEMCG",
    "CONFIG_TRANSPARENT_HUGEPAGE", "CONFIG_KEXEC", "CONFIG_CRASH_DUMP", "CONFIG_IOMMU_SUPPORT", "CONFIG_VFIO",
)


@_never_raise(dict)
def parse_key_values(text: str) -> dict[str, str]:
    """`key=value` lines (the dmi section) -> dict; later duplicates are ignored."""
    out: dict[str, str] = {}
    for line in _text(text).splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and key.strip() not in out:
            out[key.strip()] = value.strip()
    return out


def _dmi_value(dmi: dict[str, str], key: str) -> str:
    value = dmi.get(key, "").strip()
    return "" if value.lower() in DMI_PLACEHOLDERS else value


@_never_raise(dict)
def dmi_facts(dmi_text: str, firmware_text: str) -> dict[str, str]:
    """System identity from /sys/class/dmi/id (what dmidecode shows), with placeholders dropped."""
    dmi = parse_key_values(dmi_text)
    firmware = _text(firmware_text).strip().splitlines()
    return {
        "system_vendor": _dmi_value(dmi, "sys_vendor"), "system_model": _dmi_value(dmi, "product_name"),
        "system_version": _dmi_value(dmi, "product_version"), "system_serial": _dmi_value(dmi, "product_serial"),
        "system_sku": _dmi_value(dmi, "product_sku"), "system_family": _dmi_value(dmi, "product_family"),
        "board_vendor": _dmi_value(dmi, "board_vendor"), "board_model": _dmi_value(dmi, "board_name"),
        "board_serial": _dmi_value(dmi, "board_serial"), "chassis_serial": _dmi_value(dmi, "chassis_serial"),
        "bios_vendor": _dmi_value(dmi, "bios_vendor"), "bios_version": _dmi_value(dmi, "bios_version"),
        "bios_date": _dmi_value(dmi, "bios_date"),
        "firmware": firmware[0].strip() if firmware else "",
    }


@_never_raise(dict)
def virtualization(detect_virt: str, hints_text: str, cpu_flags: list[str] | None = None) -> dict[str, str]:
    """What the machine runs on: {"virtualization": ..., "hypervisor_accel": "tcg"|"kvm"|""}.

    systemd-detect-virt names the hypervisor, partly from SMBIOS strings; a VM given a server's
    SMBIOS profile (as the lab's are) then reads "vm-other". qemu's fw_cfg device, which only qemu
    has, tells it is qemu all the same. systemd calls a qemu guest without KVM "qemu": that is TCG,
    software emulation of every instruction, whose timings are emulation.
    """
    detected = _text(detect_virt).strip().splitlines()
    value = detected[0].strip() if detected else ""
    hints = set(_text(hints_text).split())
    flags = set(cpu_flags or [])
    if value in ("", "none", "vm-other") and "kvm_clock" in hints:
        value = "kvm"  # the kvm-clock clocksource exists only under KVM
    elif value in ("", "none", "vm-other") and "qemu_fw_cfg" in hints:
        value = "qemu"
    if not value and "hypervisor" in flags:
        value = "vm-other"
    accel = {"qemu": "tcg", "kvm": "kvm"}.get(value, "")
    return {"virtualization": value or "none", "hypervisor_accel": accel}


@_never_raise(list)
def parse_pci_sysfs(text: str) -> list[dict[str, Any]]:
    """The pci section: `addr vendor device subvendor subdevice class driver driver_version` per line."""
    devices = []
    for line in _text(text).splitlines():
        fields = line.split()
        if len(fields) < 6 or not re.fullmatch(r"[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]", fields[0]):
            continue
        ids = [f.lower().removeprefix("0x") for f in fields[1:6]]
        driver = fields[6] if len(fields) > 6 and fields[6] != "-" else ""
        version = fields[7] if len(fields) > 7 and fields[7] != "-" else ""
        devices.append({"address": fields[0], "vendor_id": ids[0], "device_id": ids[1], "subsystem_vendor_id": ids[2],
                        "subsystem_device_id": ids[3], "class": ids[4][:4], "driver": driver,
                        "driver_version": version, "name": ""})
    return devices


LSPCI_LINE = re.compile(r"^(?P<addr>(?:[0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) (?P<cls>[^\[]*)\[[0-9a-f]{4}\]: "
                        r"(?P<name>.*?) \[(?P<vd>[0-9a-f]{4}):(?P<dd>[0-9a-f]{4})\]")


@_never_raise(dict)
def parse_lspci_names(text: str) -> dict[str, str]:
    """`lspci -nnk` -> {domain:bus:dev.fn: "Vendor Device name"}."""
    names = {}
    for line in _text(text).splitlines():
        match = LSPCI_LINE.match(line)
        if match:
            addr = match.group("addr")
            names[addr if addr.count(":") == 2 else f"0000:{addr}"] = match.group("name").strip()
    return names


@_never_raise(list)
def pci_devices(sysfs_text: str, lspci_text: str) -> list[dict[str, Any]]:
    """PCI devices from sysfs (ids, driver, its version) with lspci's names where lspci is installed."""
    names = parse_lspci_names(lspci_text)
    devices = parse_pci_sysfs(sysfs_text)
    for device in devices:
        device["name"] = names.get(device["address"], "")
    return devices


@_never_raise(list)
def parse_lines_table(text: str, keys: tuple[str, ...]) -> list[dict[str, str]]:
    """Whitespace-separated lines -> dicts with `keys` ('-' is empty); the last key takes the rest of the line."""
    rows = []
    for line in _text(text).splitlines():
        fields = line.split(None, len(keys) - 1)
        if len(fields) < len(keys):
            continue
        rows.append({k: ("" if v == "-" else v) for k, v in zip(keys, fields, strict=True)})
    return rows


@_never_raise(list)
def taint_flags(value: int | None) -> list[str]:
    """The kernel's taint number as 'O (out-of-tree module)' items."""
    if not value:
        return []
    return [f"{letter} ({meaning})" for bit, (letter, meaning) in TAINT_FLAGS.items() if value >> bit & 1]


@_never_raise(dict)
def parse_kernel_config(text: str) -> dict[str, Any]:
    """The kernel_config section: `source=PATH`, `sha256=HEX`, then `CONFIG_X=value` lines we keep."""
    info: dict[str, Any] = {"source": "", "sha256": "", "options": {}}
    for line in _text(text).splitlines():
        line = line.strip()
        if line.startswith("source="):
            info["source"] = line.split("=", 1)[1]
        elif line.startswith("sha256="):
            info["sha256"] = line.split("=", 1)[1].split()[0] if line.split("=", 1)[1].split() else ""
        elif line.startswith("CONFIG_"):
            key, _, value = line.partition("=")
            if key in KERNEL_CONFIG_OPTIONS:
                info["options"][key] = value.strip('"')
    return info


@_never_raise(dict)
def kernel_facts(sections: dict[str, str]) -> dict[str, Any]:
    """Kernel facts a chroot cannot give of its own: config, modules, taint, command line, crashkernel."""
    tainted = _to_int(_text(sections.get("tainted")).strip())
    crash = _to_int(_text(sections.get("crashkernel")).strip())
    modules = sorted({line.split()[0] for line in _text(sections.get("modules")).splitlines() if line.split()})
    return {
        "kernel_cmdline": _text(sections.get("kernel_cmdline")).strip(),
        "kernel_tainted": tainted,
        "kernel_taint_flags": taint_flags(tainted),
        "kernel_modules": modules,
        "crashkernel_bytes": crash,
        "kernel_config": parse_kernel_config(sections.get("kernel_config", "")),
    }
