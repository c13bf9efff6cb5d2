"""C/C++ rules: x86 intrinsics and headers, inline assembly, architecture macros, #error branches.

Severity follows where the code sits (see harness.scan.cpp):
- in an x86 branch whose chain also has an ARM branch, or in a file that already has an ARM
  path (NEON/SVE code, a SIMDe/sse2neon layer, an ARM sibling file) -> covered by one
  `already-ported` info finding, not repeated per line;
- in an x86-only branch with no ARM branch -> warning (aarch64 builds the generic fallback);
- in the branch aarch64 actually compiles (the `#else` of an x86 test) or unguarded -> blocker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.scan import patterns as P
from harness.scan.cpp import Chain, LineContext, analyse, strip_comments
from harness.scan.model import Finding
from harness.scan.rules import rule

C_SUFFIXES = {".c", ".h", ".cc", ".cpp", ".cxx", ".c++", ".hpp", ".hh", ".hxx", ".h++", ".inl", ".ipp", ".tcc",
              ".cu", ".cuh", ".m", ".mm"}
SNIPPET_MAX = 200
ASM_STATEMENT_MAX_LINES = 80
_STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')


def snippet(text: str) -> str:
    text = " ".join(text.strip().split())
    return text if len(text) <= SNIPPET_MAX else text[:SNIPPET_MAX - 1] + "…"


@dataclass
class CAnalysis:
    """What one C/C++ file contains, before severities are decided."""

    raw: list[str]
    code: list[str]
    bare: list[str]
    chains: list[Chain]
    contexts: list[LineContext]
    arm_markers: list[tuple[int, str]] = field(default_factory=list)  # (line, what)
    layer: tuple[int, str] | None = None  # portability layer include (SIMDe, sse2neon)

    @property
    def has_arm_path(self) -> bool:
        return bool(self.arm_markers or self.layer)


def analyse_c(text: str) -> CAnalysis:
    raw = text.split("\n")
    code, bare = strip_comments(text)
    chains, contexts = analyse(bare)
    found = CAnalysis(raw, code, bare, chains, contexts)
    for index, line in enumerate(bare):
        number = index + 1
        include = code[index]  # header names are string literals: read the view that keeps them
        if P.ARM_HEADER.search(include):
            found.arm_markers.append((number, "ARM intrinsics header"))
        elif P.PORTABILITY_HEADER.search(include) and found.layer is None:
            found.layer = (number, "portability layer (SIMDe/sse2neon)")
        elif P.NEON_CALL.search(line):
            found.arm_markers.append((number, "NEON intrinsic"))
        elif P.SVE_CALL.search(line):
            found.arm_markers.append((number, "SVE intrinsic"))
    for chain in chains:
        for branch in chain.branches:
            if branch.arm and P.ARM_MACROS.search(branch.condition) and "SIMDE_" not in branch.condition:
                found.arm_markers.append((branch.line, "ARM architecture macro"))
    found.arm_markers.sort()
    return found


def _asm_statement(code: list[str], index: int, start_col: int) -> tuple[str, int]:
    """The text of an asm statement from its opening parenthesis to the matching close."""
    depth = 0
    parts = []
    for offset in range(ASM_STATEMENT_MAX_LINES):
        if index + offset >= len(code):
            break
        line = code[index + offset][start_col:] if offset == 0 else code[index + offset]
        for pos, ch in enumerate(line):
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    parts.append(line[:pos + 1])
                    return "\n".join(parts), offset + 1
        parts.append(line)
    return "\n".join(parts), len(parts)


def _x86_asm_lines(found: CAnalysis) -> list[tuple[int, str]]:
    """(line, kind) of inline assembly statements whose text is x86 (GCC and MSVC forms)."""
    hits: list[tuple[int, str]] = []
    for index in range(len(found.code)):
        if P.MSVC_ASM.search(found.bare[index]):
            hits.append((index + 1, "MSVC __asm block"))
            continue
        match = P.GCC_ASM_START.search(found.bare[index])
        if not match:
            continue
        statement, _ = _asm_statement(found.code, index, match.start())
        literal = " ".join(_STRING.findall(statement))
        if P.ARM_ASM_TEXT.search(literal) and not P.X86_ASM_TEXT.search(literal):
            continue
        if P.X86_ASM_TEXT.search(literal):
            hits.append((index + 1, "GCC inline asm"))
    return hits


def scan_c(display: str, found: CAnalysis, ported_reason: str | None) -> list[Finding]:
    """Findings of one C/C++ file. `ported_reason` names the ARM path found outside the file."""
    findings: list[Finding] = []
    reason = ported_reason
    if reason is None and found.layer:
        reason = f"uses a {found.layer[1]} at line {found.layer[0]}"
    if reason is None and found.arm_markers:
        line, what = found.arm_markers[0]
        reason = f"has an ARM path ({what} at line {line})"
    suppressed = 0
    first_suppressed = 0

    def add(rule_id: str, severity: str, number: int, extra: str = "") -> None:
        r = rule(rule_id)
        findings.append(Finding(rule_id, severity, display, number, snippet(found.raw[number - 1]),
                                (extra + " " if extra else "") + r.suggestion))

    def covered(number: int) -> None:
        nonlocal suppressed, first_suppressed
        suppressed += 1
        first_suppressed = first_suppressed or number

    def place(rule_id: str, number: int, layer_fixes: bool) -> None:
        ctx = found.contexts[number - 1] if number - 1 < len(found.contexts) else LineContext(())
        if ctx.arm_guarded and not ctx.x86_guarded:
            return  # ARM branch: not x86 code at all
        if ported_reason is not None:
            covered(number)  # an x86-only file of a ported module: aarch64 does not build it
        elif ctx.in_non_x86 and not (layer_fixes and found.layer):
            add(rule_id, "blocker", number, "This is the branch an aarch64 build compiles. /"
                " 这是 aarch64 编译时进入的分支。")
        elif ctx.arm_sibling or reason is not None:
            covered(number)
        elif ctx.x86_guarded:
            add(rule_id, "warning", number, "Guarded by an x86 test without an ARM branch: aarch64 builds the "
                "fallback. / 受 x86 条件保护但没有 ARM 分支，aarch64 上使用通用实现。")
        else:
            add(rule_id, "blocker", number)

    for index, line in enumerate(found.bare):
        number = index + 1
        if P.X86_HEADER.search(found.code[index]):
            place("x86-intrinsic-header", number, layer_fixes=True)
        elif P.X86_INTRINSIC.search(line) or P.X86_TARGET_ATTR.search(found.code[index]):
            place("x86-intrinsic", number, layer_fixes=True)
        lib = P.MATH_LIB_HEADER.search(found.code[index])
        if lib:
            add("x86-only-library", "blocker", number)
    for number, _kind in _x86_asm_lines(found):
        place("x86-inline-asm", number, layer_fixes=False)

    for chain in found.chains:
        if not chain.tests_x86:
            continue
        first = next(b for b in chain.branches if b.x86)
        if chain.has_arm:
            arm = next(b for b in chain.branches if b.arm)
            add("already-ported", "info", first.line, f"x86 branch at line {first.line} has an ARM branch at line "
                f"{arm.line}. / 第 {first.line} 行的 x86 分支在第 {arm.line} 行有 ARM 分支。")
            continue
        for branch in chain.branches:
            if chain.non_x86(branch):
                for number, _text in branch.errors:
                    if ported_reason is not None:
                        covered(number)
                    else:
                        add("error-non-x86", "blocker", number)
        if ported_reason is None:
            add("arch-macro-no-arm", "warning", first.line)
    if reason is not None and (suppressed or found.has_arm_path):
        number = (found.layer[0] if found.layer else found.arm_markers[0][0] if found.arm_markers
                  else first_suppressed or 1)
        add("already-ported", "info", number, f"File {reason}; {suppressed} x86-specific line(s) covered by it. / "
            f"文件已有 ARM 路径，{suppressed} 处 x86 专用代码由其覆盖。")
    return findings
