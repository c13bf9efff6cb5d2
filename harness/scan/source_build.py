"""Build files: x86 -m flags, x86 -march/-mtune values, CMAKE_SYSTEM_PROCESSOR tests without
aarch64, config.guess/config.sub too old to know aarch64, and x86-only libraries (MKL, IPP, SVML).

A build file that mentions aarch64/arm64 anywhere probably makes its x86 flags conditional; its
flag findings are warnings ("check the condition") rather than blockers.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.scan.model import Finding
from harness.scan.rules import rule
from harness.scan.source_c import snippet

BUILD_NAMES = {"makefile", "gnumakefile", "makefile.am", "makefile.in", "cmakelists.txt", "configure.ac",
               "configure.in", "meson.build", "setup.py", "build", "build.bazel", "sconstruct", "sconscript",
               "build.gradle", "build.gradle.kts", "cargo.toml", "binding.gyp"}
BUILD_SUFFIXES = {".mk", ".mak", ".cmake", ".pro", ".pri", ".bzl", ".gyp", ".gypi", ".m4"}
CONFIG_SCRIPTS = {"config.guess", "config.sub"}
TRAILING_COMMENT = re.compile(r"(?:^|\s)#(?![\w(]).*$")  # make/cmake/meson comments; not `$(#)` or `#include`

X86_FLAG = re.compile(
    r"(?<![\w-])-m(?:no-)?(?:sse[\w.]*|ssse3|avx[\w.]*|mmx|3dnow|fma4?|bmi2?|popcnt|lzcnt|aes|pclmul|f16c|sha|"
    r"rdrnd|rdseed|movbe|xsave\w*|fsgsbase|adx|clflushopt|vpclmulqdq|gfni|vaes|tbm|xop|abm|cx16|crc32|"
    r"fpmath=\w+|stackrealign|vzeroupper)(?![\w-])")
X86_MARCH = re.compile(
    r"(?<![\w-])-m(?:arch|tune|cpu)=(?:x86-64(?:-v[234])?|i[3-6]86|pentium\w*|core[\w-]*|nehalem|westmere|"
    r"sandybridge|ivybridge|haswell|broadwell|skylake[\w-]*|cannonlake|icelake[\w-]*|cascadelake|cooperlake|"
    r"tigerlake|sapphirerapids|alderlake|rocketlake|znver\d|bdver\d|btver\d|k8[\w-]*|amdfam10|opteron[\w-]*|"
    r"athlon[\w-]*|atom|bonnell|silvermont|goldmont[\w-]*|tremont|knl|knm|prescott|nocona)(?![\w-])")
CMAKE_PROCESSOR = re.compile(r"CMAKE_(?:SYSTEM|HOST_SYSTEM)_PROCESSOR")
X86_WORD = re.compile(r"x86|amd64|AMD64|i[3-6]86|x64|X86|EM64T|ia32", re.I)
ARM_WORD = re.compile(r"aarch64|arm64|armv8|ARM64|\barm\b|__aarch64__|neon", re.I)
X86_LIBRARY = re.compile(
    r"(?<![\w-])-l(?:mkl_\w+|ipp\w+|svml|irc|imf|intlc)\b|\bmkl_(?:rt|core|intel_lp64|intel_ilp64|sequential|"
    r"gnu_thread|intel_thread|tbb_thread)\b|find_package\s*\(\s*(?:MKL|IPP)\b|\bMKLROOT\b|\bIPPROOT\b|"
    r"\bipp(?:core|cp|cc|s|i|vm|ch|dc)(?:mt|_t)?\b(?=[^\w]|$)")


def is_build_file(path: Path) -> bool:
    name = path.name.lower()
    return name in BUILD_NAMES or path.suffix.lower() in BUILD_SUFFIXES or name.startswith("makefile")


def _comment(line: str) -> bool:
    stripped = line.lstrip()
    return stripped.startswith(("#", "dnl "))


def scan_build(display: str, path: Path, text: str) -> list[Finding]:
    findings: list[Finding] = []
    lines = text.split("\n")
    name = path.name.lower()
    arm_aware = bool(ARM_WORD.search(text))
    hedge = ("The file also mentions aarch64/arm: check that this flag is x86-only there. / 文件中也提到了 "
             "aarch64/arm：请确认该选项只在 x86 条件下使用。 ")
    for number, raw in enumerate(lines, start=1):
        if _comment(raw):
            continue
        line = TRAILING_COMMENT.sub("", raw) if name != "setup.py" else raw
        for rule_id, pattern in (("build-x86-flag", X86_FLAG), ("build-march-x86", X86_MARCH)):
            if pattern.search(line):
                severity = "warning" if arm_aware else rule(rule_id).severity
                findings.append(Finding(rule_id, severity, display, number, snippet(raw),
                                        (hedge if arm_aware else "") + rule(rule_id).suggestion))
        if name.endswith(".cmake") or name == "cmakelists.txt":
            if CMAKE_PROCESSOR.search(line) and X86_WORD.search(line) and not arm_aware:
                findings.append(Finding("build-cmake-processor", "warning", display, number, snippet(raw),
                                        rule("build-cmake-processor").suggestion))
        if X86_LIBRARY.search(line):
            findings.append(Finding("x86-only-library", "blocker", display, number, snippet(raw),
                                    rule("x86-only-library").suggestion))
    return findings


def scan_config_script(display: str, text: str) -> list[Finding]:
    """config.guess/config.sub: aarch64 support arrived in 2012; older copies do not know the machine."""
    if "aarch64" in text:
        return []
    lines = text.split("\n")
    number = next((i for i, line in enumerate(lines, start=1) if line.startswith("timestamp=")), 1)
    return [Finding("build-config-guess", "blocker", display, number, snippet(lines[number - 1]),
                    rule("build-config-guess").suggestion)]
