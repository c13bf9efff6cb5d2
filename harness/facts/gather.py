"""Collect platform facts from a target in one round trip and turn them into a facts dict.

One POSIX sh script prints every raw input between ``@@XCH:<section>@@`` marker lines; the
pure parsers in :mod:`harness.facts.parsers` do the interpretation on the controller side. This
keeps the target side tiny (cat, uname, getconf and whatever optional tools exist) and lets the
same parsing code run against fixtures in unit tests.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import Any

from harness.facts import parsers, system
from harness.transport.base import RunResult

FACTS_TIMEOUT = 60.0
SECTION_MARKER = re.compile(r"@@XCH:(?P<name>[^@\r\n]+)@@\s*")  # fullmatch

# Release files beyond os-release that carry the facts domestic distributions hide elsewhere
# (Kylin SP level, UOS edition). Each one becomes a section named by its path.
EXTRA_RELEASE_FILES = (
    "/etc/.kyinfo",
    "/etc/kylin-release",
    "/etc/.productinfo",
    "/etc/os-version",
    "/etc/openEuler-release",
    "/etc/uos-release",
    "/etc/redhat-release",
)

# Must run under dash and busybox sh. Optional tools are guarded with command -v and their
# errors go to /dev/null; no section depends on anything beyond cat, uname and getconf.
# "sudo -n true" is only tried when not root: it never prompts, but a refused attempt is
# logged by sudo, so root (the common case in a lab) skips it.
FACTS_SCRIPT = r"""
LC_ALL=C; export LC_ALL
PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin"; export PATH
s() { printf '@@XCH:%s@@\n' "$1"; }
have() { command -v "$1" >/dev/null 2>&1; }
s arch; uname -m 2>/dev/null
s kernel; uname -r 2>/dev/null
s os-release; cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null
for f in __EXTRA_FILES__; do
  if [ -r "$f" ]; then s "$f"; cat "$f" 2>/dev/null; fi
done
s cpuinfo; cat /proc/cpuinfo 2>/dev/null
if have lscpu; then s lscpu; LC_ALL=C lscpu 2>/dev/null; fi
f=/sys/devices/system/cpu/cpu0/regs/identification/midr_el1
if [ -r "$f" ]; then s midr; cat "$f" 2>/dev/null; fi
s page_size; getconf PAGESIZE 2>/dev/null || getconf PAGE_SIZE 2>/dev/null
s nproc; getconf _NPROCESSORS_ONLN 2>/dev/null || nproc 2>/dev/null
s meminfo; cat /proc/meminfo 2>/dev/null
n=0
for d in /sys/devices/system/node/node[0-9]*; do [ -d "$d" ] && n=$((n+1)); done
s numa_nodes; echo "$n"
ids=' '
for f in /sys/devices/system/cpu/cpu[0-9]*/topology/physical_package_id; do
  [ -r "$f" ] || continue
  v=$(cat "$f" 2>/dev/null)
  case "$ids" in *" $v "*) ;; *) ids="$ids$v " ;; esac
done
s package_ids; echo "$ids"
s glibc
getconf GNU_LIBC_VERSION 2>/dev/null || { have ldd && ldd --version 2>&1 | { read -r l; echo "$l"; }; }
for p in dnf yum apt-get zypper apk; do
  if have "$p"; then s pkg_manager; echo "$p"; break; fi
done
s hostname; hostname 2>/dev/null || uname -n 2>/dev/null
if have npu-smi; then
  s npu-smi
  if have timeout; then timeout 30 npu-smi info 2>&1; else npu-smi info 2>&1; fi
fi
s davinci
for d in /dev/davinci[0-9]*; do [ -e "$d" ] && echo "$d"; done
f=/usr/local/Ascend/driver/version.info
if [ -r "$f" ]; then s ascend-driver; cat "$f" 2>/dev/null; fi
for f in /usr/local/Ascend/ascend-toolkit/latest/*/ascend_toolkit_install.info \
         /usr/local/Ascend/ascend-toolkit/latest/ascend_toolkit_install.info; do
  if [ -r "$f" ]; then s ascend-cann; cat "$f" 2>/dev/null; break; fi
done
if have nvidia-smi; then
  s nvidia-smi
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null
fi
if have systemd-detect-virt; then s virt; systemd-detect-virt 2>/dev/null; fi
s virt_hints
[ -d /sys/firmware/qemu_fw_cfg ] && echo qemu_fw_cfg
grep -qs kvm-clock /sys/devices/system/clocksource/clocksource0/available_clocksource && echo kvm_clock
s dmi
for f in __DMI_FIELDS__; do
  [ -r "/sys/class/dmi/id/$f" ] && printf '%s=%s\n' "$f" "$(cat "/sys/class/dmi/id/$f" 2>/dev/null)"
done
s firmware
if [ -d /sys/firmware/efi ]; then echo uefi; elif [ -d /sys/firmware/devicetree/base ] && [ ! -d /sys/firmware/acpi ]; then echo devicetree; else echo bios; fi
s pci
for d in /sys/bus/pci/devices/*; do
  [ -r "$d/vendor" ] || continue
  drv=-; ver=-
  if [ -L "$d/driver" ]; then
    drv=$(readlink "$d/driver" 2>/dev/null); drv=${drv##*/}
    m=$(readlink "$d/driver/module" 2>/dev/null); m=${m##*/}
    [ -n "$m" ] && [ -r "/sys/module/$m/version" ] && ver=$(cat "/sys/module/$m/version" 2>/dev/null)
  fi
  printf '%s %s %s %s %s %s %s %s\n' "${d##*/}" "$(cat "$d/vendor")" "$(cat "$d/device")" \
    "$(cat "$d/subsystem_vendor" 2>/dev/null || echo -)" "$(cat "$d/subsystem_device" 2>/dev/null || echo -)" \
    "$(cat "$d/class")" "$(echo "$drv" | tr ' ' '_')" "${ver:--}"
done
if have lspci; then s lspci; lspci -nnk 2>/dev/null; fi
s block
for d in /sys/block/*; do
  n=${d##*/}; case "$n" in loop*|ram*|zram*) continue ;; esac
  model=$(cat "$d/device/model" 2>/dev/null | tr -s ' ' '_'); serial=$(cat "$d/serial" 2>/dev/null || cat "$d/device/serial" 2>/dev/null)
  printf '%s %s %s %s\n' "$n" "$(cat "$d/size" 2>/dev/null || echo 0)" "${serial:--}" "${model:--}"
done
s net
for d in /sys/class/net/*; do
  n=${d##*/}; [ "$n" = lo ] && continue
  drv=-; [ -L "$d/device/driver" ] && { drv=$(readlink "$d/device/driver"); drv=${drv##*/}; }
  printf '%s %s %s\n' "$n" "$drv" "$(cat "$d/address" 2>/dev/null || echo -)"
done
s watchdog
for d in /sys/class/watchdog/watchdog*; do
  [ -d "$d" ] && printf '%s %s\n' "${d##*/}" "$(cat "$d/identity" 2>/dev/null || echo -)"
done
s kernel_cmdline; cat /proc/cmdline 2>/dev/null
s tainted; cat /proc/sys/kernel/tainted 2>/dev/null
s modules; cut -d' ' -f1 /proc/modules 2>/dev/null
s crashkernel; cat /sys/kernel/kexec_crash_size 2>/dev/null
s kernel_config
f=/boot/config-$(uname -r)
if [ -r "$f" ]; then
  echo "source=$f"; have sha256sum && echo "sha256=$(sha256sum < "$f")"; grep -E '^(__KCONFIG__)=' "$f"
elif [ -r /proc/config.gz ] && have zcat; then
  echo "source=/proc/config.gz"; zcat /proc/config.gz | grep -E '^(__KCONFIG__)='
fi
uid=$(id -u 2>/dev/null)
s uid; echo "$uid"
s sudo
if [ "$uid" = 0 ]; then echo root
elif have sudo; then if sudo -n true >/dev/null 2>&1; then echo passwordless; else echo present; fi
else echo absent; fi
s end
""".replace("__EXTRA_FILES__", " ".join(EXTRA_RELEASE_FILES)).replace(
    "__DMI_FIELDS__", " ".join(system.DMI_FIELDS)).replace(
    "__KCONFIG__", "|".join(system.KERNEL_CONFIG_OPTIONS)).lstrip("\n")


def parse_sections(text: str) -> dict[str, str]:
    """Split script output on ``@@XCH:<name>@@`` lines into {name: body}.

    Anything before the first marker (login banners, motd) is dropped; a repeated section keeps
    its first body. Never raises: non-str input is coerced, garbage yields {}.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in str(text or "").splitlines():
        match = SECTION_MARKER.fullmatch(line)
        if match:
            name = match.group("name").strip()
            current = None if name in sections else sections.setdefault(name, [])
            continue
        if current is not None:
            current.append(line.rstrip("\r"))
    return {name: "\n".join(lines).strip("\n") for name, lines in sections.items()}


# --------------------------------------------------------------------------------------------
# building the facts dict


def _first_line(text: str | None) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def _int_or_none(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _positive(value: Any) -> int | None:
    number = _int_or_none(value)
    return number if number is not None and number > 0 else None


def _sockets(lscpu: dict, cpuinfo: dict, package_ids: str) -> int | None:
    """Socket count: lscpu, else distinct x86 "physical id", else sysfs package ids.

    lscpu prints "Socket(s): -" for ARM machines without ACPI PPTT, hence the fallbacks.
    """
    from_lscpu = _positive(lscpu.get("Socket(s)"))
    if from_lscpu:
        return from_lscpu
    if cpuinfo.get("physical_ids"):
        return len(cpuinfo["physical_ids"])
    ids = [item for item in package_ids.split() if _int_or_none(item) is not None and int(item) >= 0]
    return len(ids) or None


def _cores(sections: dict[str, str], lscpu: dict, cpuinfo: dict) -> int | None:
    return (_positive(_first_line(sections.get("nproc"))) or _positive(lscpu.get("CPU(s)"))
            or _positive(cpuinfo.get("processor_count")))


def _numa_nodes(sections: dict[str, str], lscpu: dict) -> int | None:
    return _positive(_first_line(sections.get("numa_nodes"))) or _positive(lscpu.get("NUMA node(s)"))


def _ascend_accelerator(sections: dict[str, str]) -> dict | None:
    """One summary entry for Ascend NPUs, from npu-smi or, failing that, /dev/davinciN nodes."""
    devices = parsers.parse_npu_smi(sections.get("npu-smi", ""))
    davinci = [line for line in (sections.get("davinci") or "").splitlines()
               if re.fullmatch(r"/dev/davinci\d+", line.strip())]
    if not devices and not davinci:
        return None
    driver = parsers.parse_ascend_version_info(sections.get("ascend-driver", "")).get("version", "")
    cann = parsers.parse_ascend_version_info(sections.get("ascend-cann", "")).get("version", "")
    return {
        "kind": "ascend",
        "model": parsers.most_common([d["name"] for d in devices]),
        "count": len(devices) or len(davinci),
        "devices": devices,
        "driver": driver or parsers.parse_npu_smi_version(sections.get("npu-smi", "")),
        "cann": cann,
    }


def _nvidia_accelerator(sections: dict[str, str]) -> dict | None:
    gpus = parsers.parse_nvidia_smi_csv(sections.get("nvidia-smi", ""))
    if not gpus:
        return None
    return {
        "kind": "nvidia",
        "model": parsers.most_common([g["name"] for g in gpus]),
        "count": len(gpus),
        "devices": gpus,
        "driver": parsers.most_common([g["driver"] for g in gpus]),
        "cann": "",
    }


def _accelerators(sections: dict[str, str]) -> list[dict]:
    found = [_ascend_accelerator(sections), _nvidia_accelerator(sections)]
    return [item for item in found if item]


def _cpu_facts(sections: dict[str, str], arch: str) -> dict:
    lscpu = parsers.parse_lscpu(sections.get("lscpu", ""))
    cpuinfo = parsers.parse_cpuinfo(sections.get("cpuinfo", ""))
    midr = _first_line(sections.get("midr")) or None
    cpu = parsers.identify_cpu(arch, lscpu, cpuinfo, midr)
    return {
        **cpu,
        "cpu_bios_model": str(lscpu.get("BIOS Model name", "")),
        "midr": midr or "",
        "sockets": _sockets(lscpu, cpuinfo, sections.get("package_ids", "")),
        "cores": _cores(sections, lscpu, cpuinfo),
        "numa_nodes": _numa_nodes(sections, lscpu),
    }


def _os_facts(sections: dict[str, str]) -> dict:
    extra = {name: body for name, body in sections.items() if name.startswith("/etc/")}
    return parsers.normalise_os(parsers.parse_os_release(sections.get("os-release", "")), extra)


def _empty_facts() -> dict:
    """The facts dict with every key present and nothing known."""
    return {
        "arch": "", "kernel": "", "hostname": "",
        "cpu_vendor": "unknown", "cpu_model": "", "cpu_family": "unknown", "cpu_implementer": "",
        "cpu_part": "", "cpu_bios_model": "", "midr": "",
        "sockets": None, "cores": None, "numa_nodes": None, "mem_total_mb": None, "page_size": None,
        "os_id": "", "os_name": "", "os_version": "", "os_sp": "", "os_edition": "", "os_like": [],
        "os_product": "", "os_pretty_name": "",
        "glibc": "", "pkg_manager": "", "accelerators": [], "is_root": False, "sudo": "",
        "emulation": "",  # "qemu-user" (a chroot's userland emulated) or "tcg" (a full-system VM emulated)
        "virtualization": "", "hypervisor_accel": "",
        "system_vendor": "", "system_model": "", "system_version": "", "system_serial": "", "system_sku": "",
        "system_family": "", "board_vendor": "", "board_model": "", "board_serial": "", "chassis_serial": "",
        "bios_vendor": "", "bios_version": "", "bios_date": "", "firmware": "",
        "pci_devices": [], "block_devices": [], "nics": [], "watchdogs": [],
        "kernel_cmdline": "", "kernel_tainted": None, "kernel_taint_flags": [], "kernel_modules": [],
        "crashkernel_bytes": None, "kernel_config": {},
    }


def _machine_facts(sections: dict[str, str], cpu_flags: list[str]) -> dict:
    """What lies beneath the OS: virtualisation, SMBIOS identity, devices, kernel (see harness.facts.system)."""
    return {
        **system.virtualization(sections.get("virt", ""), sections.get("virt_hints", ""), cpu_flags),
        **system.dmi_facts(sections.get("dmi", ""), sections.get("firmware", "")),
        "pci_devices": system.pci_devices(sections.get("pci", ""), sections.get("lspci", "")),
        "block_devices": system.parse_lines_table(sections.get("block", ""), ("name", "sectors", "serial", "model")),
        "nics": system.parse_lines_table(sections.get("net", ""), ("name", "driver", "mac")),
        "watchdogs": system.parse_lines_table(sections.get("watchdog", ""), ("name", "identity")),
        **system.kernel_facts(sections),
    }


def _safe(func: Callable[[], dict]) -> dict:
    """Run one fact builder; a bug or odd input in one area must not lose the others."""
    try:
        return func()
    except Exception:  # noqa: BLE001 - facts are best effort by design
        return {}


def facts_from_sections(sections: dict[str, str]) -> dict:
    """Build the facts dict from parsed sections. Missing data is None / "" / [], never raises.

    Keys: arch, kernel, hostname, cpu_vendor, cpu_model, cpu_family, cpu_implementer, cpu_part,
    cpu_bios_model, midr, sockets, cores, numa_nodes, mem_total_mb, page_size, os_id, os_name,
    os_version, os_sp, os_edition, os_like, os_product, os_pretty_name, glibc, pkg_manager,
    accelerators, is_root, sudo, emulation; the machine beneath (harness.facts.system): virtualization,
    hypervisor_accel, system_*/board_*/bios_*/firmware, pci_devices, block_devices, nics, watchdogs,
    kernel_cmdline, kernel_tainted, kernel_taint_flags, kernel_modules, crashkernel_bytes, kernel_config.
    """
    sections = {str(k): str(v) for k, v in dict(sections or {}).items()} if isinstance(sections, dict) else {}
    facts = _empty_facts()
    arch = _first_line(sections.get("arch"))
    mem_kb = parsers.parse_meminfo(sections.get("meminfo", "")).get("mem_total_kb")
    facts.update(_safe(lambda: {
        "arch": arch,
        "kernel": _first_line(sections.get("kernel")),
        "hostname": _first_line(sections.get("hostname")),
        "mem_total_mb": mem_kb // 1024 if isinstance(mem_kb, int) else None,
        "page_size": _positive(_first_line(sections.get("page_size"))),
        "glibc": parsers.parse_glibc(sections.get("glibc", "")),
        "pkg_manager": _first_line(sections.get("pkg_manager")),
        "is_root": _first_line(sections.get("uid")) == "0",
        "sudo": _first_line(sections.get("sudo")),
    }))
    facts.update(_safe(lambda: _cpu_facts(sections, arch)))
    facts.update(_safe(lambda: _os_facts(sections)))
    facts.update(_safe(lambda: {"accelerators": _accelerators(sections)}))
    flags = str(parsers.parse_cpuinfo(sections.get("cpuinfo", "")).get("flags") or "").split()
    facts.update(_safe(lambda: _machine_facts(sections, flags)))
    if not facts["emulation"] and facts["hypervisor_accel"] == "tcg":
        facts["emulation"] = "tcg"
    return facts


def facts_command() -> str:
    """The command line that runs FACTS_SCRIPT under sh whatever the login shell is."""
    return "sh -c " + shlex.quote(FACTS_SCRIPT)


def gather_facts(run: Callable[[str, float], RunResult]) -> dict:
    """Run the facts script once through ``run(command, timeout)`` and return the facts.

    A non-zero exit, a timeout or output cut short (no end marker) is reported in
    ``facts["gather_error"]`` next to whatever could be parsed. Exceptions raised by ``run``
    itself (the transport broke) are not swallowed: they are infrastructure errors for the
    caller to report.
    """
    result = run(facts_command(), FACTS_TIMEOUT)
    stdout = getattr(result, "stdout", "") or ""
    sections = parse_sections(stdout)
    facts = facts_from_sections(sections)
    error = _gather_error(result, sections)
    if error:
        facts["gather_error"] = error
    return facts


def _gather_error(result: RunResult, sections: dict[str, str]) -> str:
    if getattr(result, "timed_out", False):
        return f"facts script timed out after {FACTS_TIMEOUT:g} s"
    rc = getattr(result, "rc", 0)
    if rc != 0:
        tail = (getattr(result, "stderr", "") or "").strip()[-300:]
        return f"facts script exited {rc}" + (f": {tail}" if tail else "")
    if "end" not in sections:
        return "facts script output ended early (no end marker)"
    return ""
