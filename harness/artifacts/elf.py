"""ELF files: what machine they were built for and what they need from the system that runs them.

One reader (pyelftools) for compat, inspect and the porting scan: machine (in the canonical
spelling of harness.core.arch), class, type, the highest GLIBC_x.y symbol version needed (from
.gnu.version_r, the data the dynamic loader checks: a binary needing GLIBC_2.34 fails on
openEuler 20.03 with "version `GLIBC_2.34' not found"), NEEDED, RPATH and RUNPATH. A damaged
ELF file is recorded with machine "unparsable" and the error, never raised: one bad file in a
package is a finding about that file, not a reason to stop reading the package.
"""

from __future__ import annotations

import re
import struct
from dataclasses import asdict, dataclass, field
from typing import IO, Any

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

from harness.core import arch

MAGIC = b"\x7fELF"
UNPARSABLE = "unparsable"
NON_ELF = "non-elf"  # a native-library name (.dll, .dylib) that is not ELF
_GLIBC_RE = re.compile(r"GLIBC_(\d+\.\d+(?:\.\d+)?)")  # fullmatch


def is_elf(head: bytes) -> bool:
    return head[:4] == MAGIC


def glibc_key(version: str) -> tuple[int, ...]:
    """'2.36' -> (2, 36); unparsable -> () (sorts lowest)."""
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return ()


@dataclass
class ElfRecord:
    """What one ELF file is and needs; `to_dict()` is the shape of the inspection report."""

    path: str
    machine: str  # canonical arch (x86_64, aarch64...), "bpf", "em<N>", or UNPARSABLE
    elf_class: int = 0  # 32 or 64
    elf_type: str = ""  # EXEC, DYN, REL, CORE
    glibc: str = ""  # highest GLIBC_x.y needed; "" when none (static, or not linked to glibc)
    needed: list[str] = field(default_factory=list)
    rpath: list[str] = field(default_factory=list)
    runpath: list[str] = field(default_factory=list)
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["class"], data["type"] = data.pop("elf_class"), data.pop("elf_type")
        if not self.error:
            del data["error"]
        return data


def read_elf(stream: IO[bytes], path: str) -> ElfRecord:
    """The ElfRecord of the ELF image in a seekable stream (machine UNPARSABLE when damaged)."""
    try:
        elf = ELFFile(stream)
        record = ElfRecord(path, arch.from_elf(_machine_number(elf), elf.elfclass, elf.little_endian),
                           elf.elfclass, str(elf["e_type"]).removeprefix("ET_"))
        floors: list[tuple[int, ...]] = []
        for section in elf.iter_sections():
            if isinstance(section, DynamicSection):
                for tag in section.iter_tags():
                    if tag.entry.d_tag == "DT_NEEDED":
                        record.needed.append(tag.needed)
                    elif tag.entry.d_tag == "DT_RPATH":
                        record.rpath += tag.rpath.split(":")
                    elif tag.entry.d_tag == "DT_RUNPATH":
                        record.runpath += tag.runpath.split(":")
            elif isinstance(section, GNUVerNeedSection):
                for _verneed, auxes in section.iter_versions():
                    for aux in auxes:
                        match = _GLIBC_RE.fullmatch(aux.name)
                        if match:
                            floors.append(glibc_key(match.group(1)))
        if floors:
            record.glibc = ".".join(map(str, max(floors)))
        return record
    except (ELFError, struct.error, ValueError, KeyError, IndexError, TypeError, AttributeError, AssertionError,
            UnicodeDecodeError, OverflowError, MemoryError, RecursionError) as exc:
        # pyelftools raises all of these on hostile headers (asserts included)
        return ElfRecord(path, UNPARSABLE, error=f"{type(exc).__name__}: {exc}"[:300])


def _machine_number(elf: ELFFile) -> int:
    """e_machine as a number (pyelftools names the ones it knows, EM_X86_64...)."""
    raw = elf["e_machine"]
    if isinstance(raw, int):
        return raw
    from elftools.elf.enums import ENUM_E_MACHINE

    return int(ENUM_E_MACHINE.get(raw, -1))


def non_elf_native(path: str) -> ElfRecord:
    """A native library that is not ELF (a Windows .dll or macOS .dylib inside a jar)."""
    return ElfRecord(path, NON_ELF)
