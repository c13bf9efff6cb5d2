"""ELF files in the porting scan: the shared reader (harness.artifacts.elf) as ElfInfo, and the blockers.

The glibc floor is read from the version-needed section (.gnu.version_r), the same data the
dynamic loader checks: a binary needing GLIBC_2.34 fails to start on openEuler 20.03 (2.28) with
"version `GLIBC_2.34' not found", whatever its architecture. Reading and judging are shared with
compat and `xch product inspect` (harness.artifacts), so both name a machine the same way.
"""

from __future__ import annotations

from typing import IO

from harness.artifacts.elf import UNPARSABLE, is_elf
from harness.artifacts.elf import read_elf as _read_record
from harness.artifacts.judge import glibc_fits, runs_on
from harness.scan.model import ElfInfo, Finding
from harness.scan.rules import rule


class DamagedElf(ValueError):
    """An ELF file pyelftools cannot read (the message says why)."""


def read_elf(name: str, stream: IO[bytes]) -> ElfInfo:
    """Machine, class, type and glibc floor of one ELF image; raises DamagedElf on a damaged file."""
    record = _read_record(stream, name)
    if record.machine == UNPARSABLE:
        raise DamagedElf(record.error)
    return ElfInfo(file=name, machine=record.machine, elf_class=record.elf_class, elf_type="ET_" + record.elf_type,
                   glibc_floor=record.glibc)


def judge(info: ElfInfo, target_arch: str, target_glibc: str) -> list[Finding]:
    """Set the verdict fields of `info` and return its blocker findings (wrong arch, glibc too new)."""
    findings = []
    info.arch_ok = runs_on(info.machine, target_arch)
    if not info.arch_ok:
        r = rule("elf-arch-mismatch")
        findings.append(Finding(r.id, r.severity, info.file, 0, f"ELF {info.elf_class}-bit {info.machine} "
                                f"{info.elf_type}; target is {target_arch}", r.suggestion))
    if target_glibc:
        info.glibc_ok = glibc_fits(info.glibc_floor, target_glibc)
        if not info.glibc_ok:
            r = rule("elf-glibc-too-new")
            findings.append(Finding(r.id, r.severity, info.file, 0, f"needs GLIBC_{info.glibc_floor}; target OS has "
                                    f"glibc {target_glibc}", r.suggestion))
    return findings


__all__ = ["DamagedElf", "is_elf", "judge", "read_elf"]
