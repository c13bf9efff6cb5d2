"""The one table of architecture spellings: kernel (`uname -m`), Debian, RPM, ELF and wheel tags.

Every stage names an architecture by its canonical spelling, the kernel's (`uname -m`, what
facts["arch"] holds): aarch64, x86_64, loongarch64... Packaging worlds spell the same thing
differently (Debian arm64/amd64/loong64, RPM aarch64/x86_64, wheels manylinux_2_17_aarch64, ELF
e_machine 183/62/258), and a reader that invents its own spelling makes two stages disagree
about one binary ("x86-64" against "x86_64"). So the table lives here, and the manifest, the
lab, the artifact readers, the porting scan and the suites look names up in it.

An ELF file's machine is reported in the canonical spelling too: e_machine alone does not name
an architecture (EM_PPC64 is ppc64 or ppc64le by byte order, EM_MIPS is 32- or 64-bit), so
`from_elf` also takes the class and byte order.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

ALL = "all"  # an artifact for every architecture (Debian "all", RPM "noarch", wheel "any")


@dataclass(frozen=True)
class Arch:
    """One architecture in every spelling xch meets."""

    name: str  # canonical: uname -m
    debian: str  # dpkg --print-architecture
    rpm: str  # rpm --eval %_arch
    elf_machine: int  # e_machine of its ELF files
    elf_class: int  # 32 or 64
    little_endian: bool
    wheel: tuple[str, ...]  # fragments of wheel platform tags built for it
    aliases: tuple[str, ...] = ()  # other spellings accepted in manifests and options


# e_machine numbers from the System V ABI registry (elf.h).
EM_386, EM_MIPS, EM_PPC, EM_PPC64, EM_S390, EM_ARM = 3, 8, 20, 21, 22, 40
EM_X86_64, EM_AARCH64, EM_RISCV, EM_BPF, EM_LOONGARCH = 62, 183, 243, 247, 258

ARCHES: dict[str, Arch] = {a.name: a for a in (
    Arch("aarch64", "arm64", "aarch64", EM_AARCH64, 64, True, ("aarch64", "arm64"), ("arm64",)),
    Arch("x86_64", "amd64", "x86_64", EM_X86_64, 64, True, ("x86_64", "amd64"), ("amd64", "x86-64")),
    Arch("loongarch64", "loong64", "loongarch64", EM_LOONGARCH, 64, True, ("loongarch64",), ("loong64",)),
    Arch("mips64", "mips64el", "mips64el", EM_MIPS, 64, True, ("mips64",), ("mips64el",)),
    Arch("riscv64", "riscv64", "riscv64", EM_RISCV, 64, True, ("riscv64",)),
    Arch("ppc64le", "ppc64el", "ppc64le", EM_PPC64, 64, True, ("ppc64le",), ("ppc64el",)),
    Arch("s390x", "s390x", "s390x", EM_S390, 64, False, ("s390x",)),
    Arch("armv7l", "armhf", "armv7hl", EM_ARM, 32, True, ("armv7l",), ("armhf", "armv7hl")),
    Arch("i686", "i386", "i686", EM_386, 32, True, ("i686",), ("i386",)),
)}

# Every accepted spelling (lower case) -> canonical name; "all" for architecture-independent.
ALIASES: dict[str, str] = {
    **{spelling: a.name for a in ARCHES.values() for spelling in (a.name, *a.aliases)},
    ALL: ALL, "noarch": ALL, "any": ALL,
}

# ELF machines with no canonical architecture of their own: (e_machine, class, little endian) -> name.
_OTHER_ELF = {(EM_PPC64, 64, False): "ppc64", (EM_S390, 32, False): "s390", (EM_MIPS, 32, True): "mipsel",
              (EM_MIPS, 32, False): "mips", (EM_MIPS, 64, False): "mips64be", (EM_PPC, 32, False): "ppc",
              (EM_X86_64, 32, True): "x32", (EM_RISCV, 32, True): "riscv32", (EM_LOONGARCH, 32, True): "loongarch32"}
_BY_ELF = {(a.elf_machine, a.elf_class, a.little_endian): a.name for a in ARCHES.values()}
BPF = "bpf"  # eBPF objects: run by the kernel, whatever the CPU


def canonical(value: object) -> str | None:
    """Any known spelling -> the canonical name ("all" for noarch/any); None when unknown."""
    return ALIASES.get(str(value).strip().lower())


def debian_arch(name: str) -> str | None:
    """Canonical name -> Debian architecture (aarch64 -> arm64); None when unknown."""
    arch = ARCHES.get(name)
    return arch.debian if arch else None


def from_elf(e_machine: int, elf_class: int, little_endian: bool) -> str:
    """The architecture an ELF file was built for, in the canonical spelling ("em<N>" when unknown)."""
    if e_machine == EM_BPF:
        return BPF
    key = (e_machine, elf_class, little_endian)
    return _BY_ELF.get(key) or _OTHER_ELF.get(key) or f"em{e_machine}"


def from_elf_header(head: bytes) -> str:
    """from_elf() read from an ELF file's first 20 bytes; "" when they are not an ELF header."""
    if len(head) < 20 or head[:4] != b"\x7fELF" or head[4] not in (1, 2) or head[5] not in (1, 2):
        return ""
    little = head[5] == 1
    (machine,) = struct.unpack("<H" if little else ">H", head[18:20])
    return from_elf(machine, 32 if head[4] == 1 else 64, little)


def elf_machine_bytes(name: str) -> bytes:
    """The two e_machine bytes (file order) of an ELF built for canonical `name`, as `od -j18 -N2` shows them."""
    arch = ARCHES[name]
    return struct.pack("<H" if arch.little_endian else ">H", arch.elf_machine)


def wheel_fits(platform: str, name: str) -> bool:
    """Whether a wheel platform tag (manylinux_2_17_aarch64, any...) can run on canonical `name`."""
    arch = ARCHES.get(name)
    return platform == "any" or bool(arch) and any(fragment in platform for fragment in arch.wheel)
