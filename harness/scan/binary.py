"""ELF files: the machine they were built for and the highest GLIBC_x.y symbol version they need.

The glibc floor is read from the version-needed section (.gnu.version_r), the same data the
dynamic loader checks: a binary needing GLIBC_2.34 fails to start on openEuler 20.03 (2.28) with
"version `GLIBC_2.34' not found", whatever its architecture.
"""

from __future__ import annotations

import io
import re
from typing import IO

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

from harness.scan.model import ElfInfo, Finding, version_key
from harness.scan.rules import rule

MACHINES = {"EM_X86_64": "x86_64", "EM_AARCH64": "aarch64", "EM_386": "i386", "EM_ARM": "arm",
            "EM_LOONGARCH": "loongarch64", "EM_RISCV": "riscv64", "EM_PPC64": "ppc64", "EM_S390": "s390x",
            "EM_MIPS": "mips64"}
GLIBC_VERSION = re.compile(r"^GLIBC_(\d+\.\d+(?:\.\d+)?)$")


def is_elf(head: bytes) -> bool:
    return head[:4] == b"\x7fELF"


def read_elf(name: str, stream: IO[bytes]) -> ElfInfo:
    """Machine, class, type and glibc floor of one ELF image; raises ELFError on a damaged file."""
    elf = ELFFile(stream)
    machine = MACHINES.get(elf["e_machine"], str(elf["e_machine"]).removeprefix("EM_").lower())
    floor = ""
    for section in elf.iter_sections():
        if not isinstance(section, GNUVerNeedSection):
            continue
        for _verneed, auxiliaries in section.iter_versions():
            for aux in auxiliaries:
                match = GLIBC_VERSION.match(aux.name)
                if match and (not floor or version_key(match.group(1)) > version_key(floor)):
                    floor = match.group(1)
    return ElfInfo(file=name, machine=machine, elf_class=elf.elfclass, elf_type=str(elf["e_type"]),
                   glibc_floor=floor)


def read_elf_bytes(name: str, data: bytes) -> ElfInfo:
    return read_elf(name, io.BytesIO(data))


def judge(info: ElfInfo, target_arch: str, target_glibc: str) -> list[Finding]:
    """Set the verdict fields of `info` and return its blocker findings (wrong arch, glibc too new)."""
    findings = []
    info.arch_ok = info.machine == target_arch
    if not info.arch_ok:
        r = rule("elf-arch-mismatch")
        findings.append(Finding(r.id, r.severity, info.file, 0, f"ELF {info.elf_class}-bit {info.machine} "
                                f"{info.elf_type}; target is {target_arch}", r.suggestion))
    if target_glibc:
        info.glibc_ok = not info.glibc_floor or version_key(info.glibc_floor) <= version_key(target_glibc)
        if not info.glibc_ok:
            r = rule("elf-glibc-too-new")
            findings.append(Finding(r.id, r.severity, info.file, 0, f"needs GLIBC_{info.glibc_floor}; target OS has "
                                    f"glibc {target_glibc}", r.suggestion))
    return findings


__all__ = ["ELFError", "is_elf", "judge", "read_elf", "read_elf_bytes"]
