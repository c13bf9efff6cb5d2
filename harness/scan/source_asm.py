"""Assembly files: x86 assembly sources (GAS, NASM/YASM, MASM) and Go's 386/amd64 assembly.

A file is x86 when its lines use x86 registers or NASM/MASM directives. It is no blocker when an
aarch64 build never assembles it:
- the build selects it for x86 only (harness.scan.build_model), ideally beside an ARM branch;
- a preprocessed `.S` keeps its x86 code under x86-only `#if`s (harness.scan.cpp);
- an ARM implementation sits beside it: a sibling file (`crc_sse.S` -> `crc_neon.S`), an arm/
  folder next to it, or next to an x86-named parent (`simd/x86_64/` beside `simd/arm/`);
- it is another architecture's folder (mips/, powerpc/).
NASM and MASM are x86-only assemblers: the AArch64 register pattern is never applied to them
(NASM macro names like `X0` are x86 registers there).
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.scan import cpp
from harness.scan import patterns as P
from harness.scan.build_model import Selection
from harness.scan.model import Finding
from harness.scan.platforms import SOURCE, TARGET
from harness.scan.rules import rule
from harness.scan.source_c import snippet

ASM_SUFFIXES = {".s", ".S", ".asm", ".nasm", ".sx"}
PREPROCESSED = {".S", ".sx"}
GO_BUILD_NOT_AMD64 = re.compile(r"^//\s*(?:go:build|\+build)\s.*!(?:amd64|386)", re.M)
GO_FALLBACK_NAMES = re.compile(r"_(?:generic|noasm|purego|other|fallback|ref)\.go$")
GO_X86_ASM = re.compile(r"_(?P<arch>amd64|386)(?:_\w+)?\.s$")
PARENT_LEVELS = 3


def arm_sibling(path: Path, root: Path | None = None) -> Path | None:
    """An ARM implementation next to `path`, or next to one of its x86-named parent folders.

    In the file's own folder a file named like it with an ARM token (`crc_sse.c` -> `crc_neon.c`) is
    preferred; any ARM-named file or an arm/aarch64/arm64/neon folder also counts. Up to three
    levels above, below `root`, an ARM-named folder beside an x86-named one (`simd/x86_64/` and
    `simd/arm/`) is the port of everything under the x86 one.
    """
    directory = path.parent
    try:
        entries = sorted(directory.iterdir())
    except OSError:
        return None
    stem = P.X86_NAME.sub("", path.stem)
    named = [e for e in entries if e != path and P.ARM_NAME.search(e.name)]
    for entry in named:
        if P.ARM_NAME.sub("", Path(entry.name).stem) == stem:
            return entry
    for entry in entries:
        if entry.is_dir() and entry.name.lower() in P.ARM_DIRS:
            return entry
    if named:
        return named[0]
    return _arm_beside_parent(path, root)


def _arm_beside_parent(path: Path, root: Path | None) -> Path | None:
    ancestor = path.parent
    for _ in range(PARENT_LEVELS):
        if root is not None and (ancestor == root or root not in ancestor.parents):
            return None
        if P.X86_NAME.search("/" + ancestor.name):
            try:
                for entry in sorted(ancestor.parent.iterdir()):
                    if entry.is_dir() and entry != ancestor and P.ARM_NAME.search("/" + entry.name):
                        return entry
            except OSError:
                return None
        ancestor = ancestor.parent
    return None


def is_nasm_or_masm(path: Path, lines: list[str]) -> bool:
    if path.suffix.lower() in (".asm", ".nasm"):
        return True
    return any(P.NASM_FILE_LINE.match(line) for line in lines[:200] if line.strip()[:1] in ("%", "b", "d", "B", "D"))


def scan_asm(display: str, path: Path, text: str, selection: Selection | None = None, root: Path | None = None,
             lookup: cpp.Lookup | None = None) -> tuple[list[Finding], bool]:
    """Findings of one assembly file and whether it is ARM assembly (ARM evidence for the project)."""
    if P.ARM_NAME.search(display):
        return [], True
    if P.OTHER_ARCH_NAME.search(display):
        return [], False
    lines = text.split("\n")
    nasm = is_nasm_or_masm(path, lines)
    x86_lines: list[int] = []
    arm_line = 0
    for number, line in enumerate(lines, start=1):
        code = line.split(";", 1)[0] if nasm else line.split("//", 1)[0]
        if P.X86_ASM_FILE_LINE.search(code):
            x86_lines.append(number)
        if not nasm and not arm_line and P.ARM_ASM_FILE_LINE.search(code):
            arm_line = number
    if not x86_lines:
        return [], bool(arm_line)
    first = x86_lines[0]
    if not nasm and (arm_line or re.search(r"__aarch64__|__arm64__", text)):
        return [Finding("already-ported", "info", display, arm_line or 1, snippet(lines[(arm_line or 1) - 1]),
                        "File has both x86 and ARM code. / 文件同时包含 x86 与 ARM 代码。 "
                        + rule("already-ported").suggestion)], True
    compiled = _compiled_x86_lines(path, lines, x86_lines, lookup) if path.suffix in PREPROCESSED else x86_lines
    sibling = arm_sibling(path, root)
    built_for_arm = selection is None or selection.reach[TARGET] != 0
    if not compiled or not built_for_arm:
        why = ("its x86 code sits under x86-only #if tests" if not compiled
               else f"the build selects it for x86 only ({selection.where})")  # type: ignore[union-attr]
        alternative = (selection.arm_alternative if selection is not None and selection.arm_alternative
                       else sibling.name if sibling is not None else "")
        x86_built = selection is None or selection.reach[SOURCE] != 0
        if alternative:
            return [_info(display, first, lines, f"aarch64 does not assemble it: {why}; ARM path: {alternative}. / "
                          f"aarch64 不汇编此文件；ARM 实现：{alternative}。")], False
        if not x86_built:
            return [], False  # neither build assembles it (a 32-bit x86 file, say)
        r = rule("x86-asm-file")
        return [Finding(r.id, "warning", display, first, snippet(lines[first - 1]),
                        f"aarch64 does not assemble it ({why}) and no ARM version was found: aarch64 uses the "
                        "generic code, check it is fast enough. / aarch64 不汇编此文件且未找到 ARM 实现，将使用通用实现。 "
                        + r.suggestion)], False
    if sibling is not None:
        return [_info(display, first, lines, f"ARM sibling: {sibling.name}. / ARM 对应实现：{sibling.name}。")], False
    return [Finding("x86-asm-file", "blocker", display, compiled[0], snippet(lines[compiled[0] - 1]),
                    rule("x86-asm-file").suggestion)], False


def _info(display: str, line: int, lines: list[str], text: str) -> Finding:
    return Finding("already-ported", "info", display, line, snippet(lines[line - 1]),
                   text + " " + rule("already-ported").suggestion)


def _compiled_x86_lines(path: Path, lines: list[str], x86_lines: list[int], lookup: cpp.Lookup | None) -> list[int]:
    """The x86 lines of a preprocessed .S that an aarch64 build may assemble."""
    _, bare = cpp.strip_comments("\n".join(lines))
    directives = cpp.parse_directives(bare)
    if not directives:
        return x86_lines
    structure = cpp.analyse(directives, len(bare), initial=lookup) if lookup else cpp.analyse(directives, len(bare))
    contexts = structure.contexts
    return [n for n in x86_lines if n - 1 >= len(contexts) or contexts[n - 1].reach(TARGET) != 0]


def scan_go_asm(display: str, path: Path) -> list[Finding]:
    """`foo_amd64.s`/`foo_386.s` in a Go package: fine with `foo_arm64.s`, slower with a pure-Go
    fallback, else broken."""
    directory = path.parent
    match = GO_X86_ASM.search(path.name)
    arch = match.group("arch") if match else "amd64"
    arm = path.with_name(path.name.replace(f"_{arch}", "_arm64", 1))
    if arm.exists():
        return [Finding("already-ported", "info", display, 1, f"{path.name} + {arm.name}",
                        rule("already-ported").suggestion)]
    fallback = None
    for go_file in sorted(directory.glob("*.go")):
        if GO_FALLBACK_NAMES.search(go_file.name):
            fallback = go_file.name
            break
        try:
            head = go_file.read_text(encoding="utf-8", errors="replace")[:2000]
        except OSError:
            continue
        if GO_BUILD_NOT_AMD64.search(head):
            fallback = go_file.name
            break
    r = rule("go-asm-no-arm")
    if fallback:
        return [Finding(r.id, "warning", display, 1, path.name, f"Pure-Go fallback {fallback} will be used on arm64 "
                        f"(slower). / arm64 上将使用纯 Go 实现 {fallback}（较慢）。 " + r.suggestion)]
    return [Finding(r.id, "blocker", display, 1, path.name, "No arm64 assembly and no pure-Go fallback: the package "
                    "does not build for arm64. / 没有 arm64 汇编也没有纯 Go 实现，无法为 arm64 构建。 " + r.suggestion)]
