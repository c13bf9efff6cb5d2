"""Which names and headers are x86's: the table GCC's own x86 headers define (data/x86_intrinsics.txt).

A `_mm_*` name is evidence of x86 only if Intel defines it: Loongson MMI code (MIPS) has
`_mm_load_si32` and friends of its own, and look-alike definitions live in MIPS intrinsic
headers. The table is extracted from the compiler by scripts/extract_x86_intrinsics.py, which
names the GCC version and the headers in the file's first lines.
"""

from __future__ import annotations

from importlib import resources

_DATA = "x86_intrinsics.txt"


def _load() -> tuple[frozenset[str], frozenset[str]]:
    text = resources.files("harness.scan").joinpath("data", _DATA).read_text(encoding="utf-8")
    names: set[str] = set()
    headers: set[str] = set()
    for line in text.split("\n"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("<"):
            headers.add(line.strip("<>"))
        else:
            names.add(line)
    return frozenset(names), frozenset(headers)


X86_INTRINSICS, X86_HEADERS = _load()
# Microsoft's x86-only intrinsics (learn.microsoft.com "x64 (amd64) intrinsics list"), which GCC
# does not define: they matter only where an aarch64 build compiles them.
MSVC_X86_INTRINSICS = frozenset({"__cpuid", "__cpuidex", "__rdtsc", "__rdtscp", "__popcnt", "__popcnt16",
                                 "__popcnt64", "__lzcnt", "__lzcnt16", "__lzcnt64", "__readmsr", "__writemsr",
                                 "__inbyte", "__outbyte", "__halt", "__ud2", "__movsb", "__stosb",
                                 "__shiftleft128", "__shiftright128", "_mul128", "_umul128", "__faststorefence"})


def is_x86_intrinsic(name: str) -> bool:
    return name in X86_INTRINSICS or name in MSVC_X86_INTRINSICS or name.startswith("__builtin_ia32_")


def is_x86_header(include: str) -> bool:
    """`immintrin.h`, `x86/cpuid.h`... : the last path part is one of GCC's x86 headers."""
    return include.strip("<>\" ").rsplit("/", 1)[-1] in X86_HEADERS
