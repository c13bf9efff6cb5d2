#!/usr/bin/env python3
"""Write harness/scan/data/x86_intrinsics.txt: every x86 intrinsic name GCC's own x86 headers define.

The porting scan judges a call like `_mm_set1_pi32(...)` to be x86 only when the name is a real
Intel intrinsic; Loongson MMI (MIPS) code defines look-alike names of its own. The names come
from the compiler rather than from a hand-made list: every function the x86 intrinsic headers
define (`extern __inline ... NAME (`) and every function-like macro they define (`#define NAME(`).

    python3 scripts/extract_x86_intrinsics.py [--include /usr/lib/gcc/x86_64-linux-gnu/12/include]

Names that ARM's ACLE also defines (`__crc32b` is in both ia32intrin.h and arm_acle.h) are left
out: they are no evidence of x86 on their own. The file records the compiler and the headers read.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "harness" / "scan" / "data" / "x86_intrinsics.txt"
DEFAULT_INCLUDE = Path("/usr/lib/gcc/x86_64-linux-gnu/12/include")
HEADERS = re.compile(r"^(?:\w*intrin|cpuid|mm3dnow|mm_malloc)\.h$")
FUNCTION = re.compile(r"^(_\w+)\s*\(")
MACRO = re.compile(r"^#\s*define\s+(_\w+)\(")
INLINE = re.compile(r"\b__inline\b|__gnu_inline__|__always_inline__")
# Internal helper macros of the headers, not intrinsics a program calls.
HELPERS = re.compile(r"^__(?:DISABLE|MM_|m\d|v\d)|^_X86|_H_INCLUDED$|^__[A-Z0-9_]+$|^__\w+__$")
# Names ARM's ACLE (arm_acle.h) defines as well: ambiguous, so not evidence of x86.
ACLE_SHARED = frozenset({"__crc32b", "__crc32h", "__crc32w", "__crc32d", "__crc32cb", "__crc32ch", "__crc32cw",
                         "__crc32cd", "__rev", "__rev16", "__clz", "__cls", "__ror", "__rbit", "__nop", "__yield",
                         "__wfi", "__wfe", "__sev", "__sevl", "__dmb", "__dsb", "__isb"})


def names_in(header: Path) -> set[str]:
    found: set[str] = set()
    lines = header.read_text(encoding="utf-8", errors="replace").split("\n")
    for index, line in enumerate(lines):
        macro = MACRO.match(line)
        if macro:
            found.add(macro.group(1))
            continue
        function = FUNCTION.match(line)
        if function and any(INLINE.search(lines[j]) for j in range(max(0, index - 3), index)):
            found.add(function.group(1))
    return {name for name in found if not HELPERS.search(name) and name not in ACLE_SHARED}


def compiler_version() -> str:
    try:
        return subprocess.run(["gcc", "--version"], capture_output=True, text=True, timeout=30).stdout.split("\n")[0]
    except OSError:
        return "unknown gcc"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--include", type=Path, default=DEFAULT_INCLUDE, help="GCC's x86 include folder")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    headers = sorted(p for p in args.include.iterdir() if HEADERS.match(p.name))
    if not headers:
        print(f"{args.include}: no x86 intrinsic headers (*intrin.h) found", file=sys.stderr)
        return 2
    names: set[str] = set()
    for header in headers:
        names |= names_in(header)
    lines = [f"# x86 intrinsic names defined by {compiler_version()}",
             f"# source: {args.include}/ ({len(headers)} headers: *intrin.h, cpuid.h, mm3dnow.h, mm_malloc.h)",
             f"# extracted {date.today().isoformat()} by scripts/extract_x86_intrinsics.py: inline functions and",
             "# function-like macros; names ARM's ACLE shares (__crc32b ...) left out. One name per line;",
             "# the headers themselves as <name.h>.",
             *(f"<{h.name}>" for h in headers), *sorted(names)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"{args.out}: {len(names)} names from {len(headers)} headers")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
