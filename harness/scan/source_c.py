"""C/C++ rules: x86 intrinsics and headers, inline assembly, MSR devices, arch macros, #error branches.

Severity follows which build compiles the line (harness.scan.cpp):
- neither build (MSVC-only, MIPS, i386, x32, a file in a mips/ or powerpc/ folder): nothing;
- x86_64 only, with an ARM branch in the chain or an ARM path for the file (NEON/SVE code, a
  SIMDe/sse2neon layer, an ARM sibling file, the build's ARM alternative) -> covered by one
  `already-ported` info finding, not repeated per line;
- x86_64 only, nothing for ARM -> warning (aarch64 builds the generic fallback);
- compiled by aarch64 -> blocker.
An intrinsic is x86's only if Intel defines the name (harness.scan.intrinsics) and the file is
not another architecture's (Loongson MMI defines `_mm_*` look-alikes of its own). A file gets one
verdict about its ARM paths: never an "add an ARM branch" warning and an "already ported" note
together, and never two findings on one line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.scan import cpp
from harness.scan import patterns as P
from harness.scan.cpp import Directive, FileStructure, LineContext
from harness.scan.intrinsics import is_x86_header, is_x86_intrinsic
from harness.scan.model import SEVERITIES, Finding
from harness.scan.platforms import SOURCE, TARGET
from harness.scan.rules import rule

C_SUFFIXES = {".c", ".h", ".cc", ".cpp", ".cxx", ".c++", ".hpp", ".hh", ".hxx", ".h++", ".inl", ".ipp", ".tcc",
              ".cu", ".cuh", ".m", ".mm"}
SNIPPET_MAX = 200
ASM_STATEMENT_MAX_LINES = 80
_STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
_INCLUDE = re.compile(r"^\s*#\s*include\s*(?P<q>[<\"])(?P<name>[^>\"]+)[>\"]")
# Quoted includes of intrinsic headers copied into a project (`"immintrin.h"`); a local "cpuid.h" is not one.
_QUOTED_X86 = re.compile(r"(?:^|/)(?:x86|imm|xmm|emm|pmm|tmm|smm|nmm|wmm|amm|zmm|avx\w*|mm|ia32)intrin\.h$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def snippet(text: str) -> str:
    text = _CONTROL.sub("\ufffd", " ".join(text.strip().split()))
    return text if len(text) <= SNIPPET_MAX else text[:SNIPPET_MAX - 1] + "…"


@dataclass
class CAnalysis:
    """What one C/C++ file contains, before severities are decided."""

    raw: list[str]
    code: list[str]
    bare: list[str]
    directives: list[Directive]
    structure: FileStructure
    includes: list[tuple[int, str, bool]] = field(default_factory=list)  # (line, header, quoted)
    arm_markers: list[tuple[int, str]] = field(default_factory=list)  # (line, what)
    layer: tuple[int, str] | None = None  # portability layer include (SIMDe, sse2neon)
    other_arch_header: str = ""  # an include of another architecture's intrinsics (altivec.h, msa.h...)
    intrinsic_calls: list[tuple[int, str]] = field(default_factory=list)  # (line, name): x86 intrinsic calls
    defined_names: set[str] = field(default_factory=set)  # intrinsic-like names this file defines itself
    directive_lines: list[int] = field(default_factory=list)  # 0-based lines holding a `#`

    @property
    def has_arm_path(self) -> bool:
        return bool(self.arm_markers or self.layer)

    @property
    def chains(self) -> list[cpp.Chain]:
        return self.structure.chains

    @property
    def contexts(self) -> list[LineContext]:
        return self.structure.contexts


def analyse_c(text: str, template: bool = False) -> CAnalysis:
    """Parse one file; its structure is first evaluated with the compiler's macros only and is
    re-evaluated by the scanner once the project's own macros are known (`restructure`)."""
    raw = text.split("\n")
    code, bare = cpp.strip_comments(text)
    directives = cpp.parse_directives(bare, template=template)
    found = CAnalysis(raw, code, bare, directives, cpp.analyse(directives, len(bare)))
    found.directive_lines = [i for i, line in enumerate(code) if "#" in line]
    marked: set[int] = set()
    for index in found.directive_lines:
        number = index + 1
        include = code[index]  # header names are string literals: read the view that keeps them
        match = _INCLUDE.match(include)
        if match:
            found.includes.append((number, match.group("name"), match.group("q") == '"'))
            if P.OTHER_ARCH_HEADER.search(include) and not found.other_arch_header:
                found.other_arch_header = match.group("name")
        if P.ARM_HEADER.search(include):
            found.arm_markers.append((number, "ARM intrinsics header"))
            marked.add(number)
        elif P.PORTABILITY_HEADER.search(include) and found.layer is None:
            found.layer = (number, "portability layer (SIMDe/sse2neon)")
            marked.add(number)
    bare_text = "\n".join(bare)
    for what, pattern in (("NEON intrinsic", P.NEON_CALL), ("SVE intrinsic", P.SVE_CALL)):
        for number, _match in _matches_by_line(bare_text, pattern):
            if number not in marked:
                marked.add(number)
                found.arm_markers.append((number, what))
    seen: set[int] = set()
    for number, match in _matches_by_line(bare_text, P.INTRINSIC_CALL):
        name = match.group("name")
        if number in seen or not is_x86_intrinsic(name):
            continue
        line = bare[number - 1]
        column = match.start() - (bare_text.rfind("\n", 0, match.start()) + 1)
        if _defines_name(line, column):
            found.defined_names.add(name)
        else:
            seen.add(number)
            found.intrinsic_calls.append((number, name))
    for number, _match in _matches_by_line("\n".join(code), P.X86_TARGET_ATTR):
        if number not in seen:
            seen.add(number)
            found.intrinsic_calls.append((number, "__attribute__((target))"))
    found.intrinsic_calls.sort()
    _mark_arm_branches(found)
    return found


def _matches_by_line(text: str, pattern: re.Pattern[str]):  # type: ignore[no-untyped-def]
    """(line number, match) of every match, in order; line numbers counted incrementally."""
    line, last = 1, 0
    for match in pattern.finditer(text):
        line += text.count("\n", last, match.start())
        last = match.start()
        yield line, match


def restructure(found: CAnalysis, structure: FileStructure) -> None:
    found.structure = structure
    _mark_arm_branches(found)


def _mark_arm_branches(found: CAnalysis) -> None:
    found.arm_markers = [m for m in found.arm_markers if m[1] != "ARM architecture macro"]
    for chain in found.chains:
        for branch in chain.branches:
            if branch.arm and "SIMDE_" not in branch.condition:
                found.arm_markers.append((branch.line, "ARM architecture macro"))
    found.arm_markers.sort()


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
    """(line, kind) of inline assembly whose text is x86: GCC and MSVC forms, raw x86 opcodes
    (`.byte 0x0f, 0x31`), and variables bound to x86 registers (`register long r asm("rax")`)."""
    hits: list[tuple[int, str]] = []
    for index, line in enumerate(found.code):
        if "asm" not in line:
            continue
        if P.MSVC_ASM.search(found.bare[index]):
            hits.append((index + 1, "MSVC __asm block"))
            continue
        binding = P.REGISTER_BINDING.search(line)
        if binding:
            if P.X86_REGISTER_NAME.match(binding.group("reg").strip()):
                hits.append((index + 1, "variable bound to an x86 register"))
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


def _defines_name(line: str, start: int) -> bool:
    """`static __inline __m64 _mm_set1_pi32(int i) {` or `#define _mm_x(a)`: a definition, not a use.

    A declaration prefix before the name, and after its parameter list a `{` or the end of the line
    (the body follows), never a `;` (that is a prototype or a call)."""
    prefix = line[:start]
    if re.match(r"\s*#\s*define\s*$", prefix):
        return True
    if not P.is_declaration_prefix(prefix):
        return False
    open_at = line.find("(", start)
    depth = 0
    for pos in range(open_at, len(line)):
        if line[pos] == "(":
            depth += 1
        elif line[pos] == ")":
            depth -= 1
            if depth == 0:
                rest = line[pos + 1:].lstrip()
                return rest == "" or rest.startswith("{") or (rest[:1].isalpha() and ";" not in rest.split("{")[0])
    return ";" not in line[start:]


def _x86_header_line(found: CAnalysis, index: int) -> bool:
    match = _INCLUDE.match(found.code[index]) if "#" in found.code[index] else None
    if not match:
        return False
    name = match.group("name")
    if match.group("q") == '"':
        return bool(_QUOTED_X86.search(name))
    return is_x86_header(name)


def scan_c(display: str, found: CAnalysis, ported_reason: str | None, other_arch: str = "",
           own_names: set[str] | frozenset[str] = frozenset(),
           dead_on_target: Callable[[int], bool] | None = None) -> list[Finding]:
    """Findings of one C/C++ file.

    `ported_reason` names an ARM path found outside the file (an ARM sibling, the build's ARM
    alternative); `other_arch` says why the file is another architecture's code (its folder, or the
    intrinsics header it includes), which silences the intrinsic rules. `own_names` are
    intrinsic-looking names the project defines where this file sees them (cpufrequtils' own
    `__cpuid()`): calls of those are no intrinsics. `dead_on_target(line)` says the line is in a
    static function no aarch64 code calls (GCC never emits it there).
    """
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

    def context(number: int) -> LineContext:
        contexts = found.contexts
        return contexts[number - 1] if number - 1 < len(contexts) else LineContext((), cpp.ALWAYS)

    def place(rule_id: str, number: int, layer_fixes: bool) -> None:
        ctx = context(number)
        if ctx.dead or (ctx.arm_guarded and not ctx.x86_only):
            return  # neither build compiles it, or it is the ARM branch itself
        if ported_reason is not None:
            covered(number)  # an x86 part of a ported module: aarch64 builds the ARM alternative
            return
        unused = not ctx.x86_only and dead_on_target is not None and dead_on_target(number)
        if ctx.x86_only or unused:
            if ctx.arm_sibling or reason is not None:
                covered(number)
            elif unused:
                add(rule_id, "warning", number, "Only x86-only code calls the static function this is in: aarch64 "
                    "never emits it. / 仅 x86 专用代码调用此静态函数，aarch64 上不会生成。")
            else:
                add(rule_id, "warning", number, "Only x86_64 compiles this and there is no ARM branch: aarch64 "
                    "builds the fallback. / 仅 x86_64 编译此处且没有 ARM 分支，aarch64 上使用通用实现。")
        elif layer_fixes and found.layer:
            covered(number)
        elif ctx.target_only:
            add(rule_id, "blocker", number, "This is the branch an aarch64 build compiles. /"
                " 这是 aarch64 编译时进入的分支。")
        elif reason is not None and ctx.reach(TARGET) is None:
            covered(number)  # depends on configuration, in a file that has its ARM path
        else:
            add(rule_id, "blocker", number)

    intrinsic_rules = not other_arch and not found.other_arch_header
    header_lines: set[int] = set()
    for index in found.directive_lines:
        number = index + 1
        if intrinsic_rules and _x86_header_line(found, index):
            header_lines.add(number)
            place("x86-intrinsic-header", number, layer_fixes=True)
        if P.MATH_LIB_HEADER.search(found.code[index]) and not context(number).dead:
            add("x86-only-library", "blocker", number)
    if intrinsic_rules:
        last = 0
        for number, name in found.intrinsic_calls:
            if number != last and number not in header_lines and name not in own_names:
                last = number
                place("x86-intrinsic", number, layer_fixes=True)
    for number, match in _matches_by_line("\n".join(found.code), P.X86_MSR_DEVICE):
        line = found.code[number - 1]
        column = line.find(match.group(0))
        if not P.MESSAGE_CALL.search(line[:max(column, 0)]):
            place("x86-msr-access", number, layer_fixes=False)
    if not other_arch:
        for number, _kind in _x86_asm_lines(found):
            place("x86-inline-asm", number, layer_fixes=False)

    for directive in found.directives:
        if directive.kind != "error":
            continue
        ctx = context(directive.index + 1)
        on_arm, on_x86 = ctx.reach(TARGET), ctx.reach(SOURCE)
        if (on_arm == 1 and on_x86 != 1) or (on_arm is None and on_x86 == 0):
            if ported_reason is not None:
                covered(directive.index + 1)
            else:
                add("error-non-x86", "blocker", directive.index + 1, "aarch64 reaches this #error and x86_64 does "
                    "not. / aarch64 会进入此 #error，x86_64 不会。")

    arm_chains = [c for c in found.chains if c.tests_x86 and c.has_arm]
    bare_chains = [c for c in found.chains if c.tests_x86 and not c.has_arm and not found.layer]
    if ported_reason is None:
        for chain in bare_chains:
            first = next(b for b in chain.branches if b.x86_only)
            elsewhere = (f" The file has an ARM branch at line {arm_chains[0].arm_branch().line}"  # type: ignore[union-attr]
                         f" for other code. / 文件在第 {arm_chains[0].arm_branch().line} 行有其他 ARM 分支。"  # type: ignore[union-attr]
                         if arm_chains else "")
            add("arch-macro-no-arm", "warning", first.line, elsewhere.strip())
    has_work = any(f.severity != "info" for f in findings)
    if not has_work:
        for chain in arm_chains:
            if reason is not None:
                break  # one file-level note below says it all
            first = next(b for b in chain.branches if b.x86_only)
            arm = chain.arm_branch()
            assert arm is not None
            add("already-ported", "info", first.line, f"x86 branch at line {first.line} has an ARM branch at line "
                f"{arm.line}. / 第 {first.line} 行的 x86 分支在第 {arm.line} 行有 ARM 分支。")
        if reason is not None and (suppressed or arm_chains):
            number = (found.layer[0] if found.layer else found.arm_markers[0][0] if found.arm_markers
                      else first_suppressed or 1)
            if suppressed:
                text = (f"File {reason}; {suppressed} x86-specific line(s) covered by it. / 文件已有 ARM 路径，"
                        f"{suppressed} 处 x86 专用代码由其覆盖。")
            else:
                first = next(b for b in arm_chains[0].branches if b.x86_only)
                arm = arm_chains[0].arm_branch()
                text = (f"{len(arm_chains)} x86 branch(es) with an ARM branch (line {first.line} -> "
                        f"{arm.line if arm else number}). / {len(arm_chains)} 处 x86 分支已有 ARM 分支。")
            add("already-ported", "info", number, text)
    return one_per_line(findings)


def one_per_line(findings: list[Finding]) -> list[Finding]:
    """Keep one finding per (file, line): the most severe (the first of equals)."""
    order = {s: i for i, s in enumerate(SEVERITIES)}
    best: dict[tuple[str, int], Finding] = {}
    for finding in findings:
        key = (finding.file, finding.line)
        if finding.line == 0:
            key = (finding.file, -len(best) - 1)  # file-level findings of different rules all stay
        kept = best.get(key)
        if kept is None or order[finding.severity] < order[kept.severity]:
            best[key] = finding
    return list(best.values())
