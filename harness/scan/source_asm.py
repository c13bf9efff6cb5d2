"""Assembly files: x86 assembly sources (GAS, NASM/YASM, MASM) and Go's amd64 assembly.

A file is x86 when its lines use x86 registers or NASM directives; it is already ported when the
same directory (or an arm/aarch64 sibling folder) holds an ARM implementation of it.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.scan import patterns as P
from harness.scan.model import Finding
from harness.scan.rules import rule
from harness.scan.source_c import snippet

ASM_SUFFIXES = {".s", ".S", ".asm", ".nasm", ".sx"}
GO_BUILD_NOT_AMD64 = re.compile(r"^//\s*(?:go:build|\+build)\s.*!amd64", re.M)
GO_FALLBACK_NAMES = re.compile(r"_(?:generic|noasm|purego|other|fallback|ref)\.go$")


def arm_sibling(path: Path) -> Path | None:
    """An ARM implementation next to `path`: a file or folder named for arm in the same directory.

    A sibling named like this file with an ARM token (`crc_sse.c` -> `crc_neon.c`) is preferred;
    any ARM-named file or an arm/aarch64/arm64/neon folder in the directory also counts.
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
    return named[0] if named else None


def scan_asm(display: str, path: Path, text: str) -> tuple[list[Finding], bool]:
    """Findings of one assembly file and whether it is ARM assembly (ARM evidence for the project)."""
    lines = text.split("\n")
    if P.ARM_NAME.search(display):
        return [], True
    x86_line = arm_line = 0
    for number, line in enumerate(lines, start=1):
        code = line.split(";", 1)[0] if path.suffix.lower() in (".asm", ".nasm") else line.split("//", 1)[0]
        if not x86_line and P.X86_ASM_FILE_LINE.search(code):
            x86_line = number
        if not arm_line and P.ARM_ASM_FILE_LINE.search(code):
            arm_line = number
        if x86_line and arm_line:
            break
    if not x86_line:
        return [], bool(arm_line)
    if arm_line or re.search(r"__aarch64__|__arm64__", text):
        return [Finding("already-ported", "info", display, arm_line or 1, snippet(lines[(arm_line or 1) - 1]),
                        "File has both x86 and ARM code. / 文件同时包含 x86 与 ARM 代码。 " + rule("already-ported").suggestion)], True
    sibling = arm_sibling(path)
    if sibling is not None:
        return [Finding("already-ported", "info", display, x86_line, snippet(lines[x86_line - 1]),
                        f"ARM sibling: {sibling.name}. / ARM 对应实现：{sibling.name}。 "
                        + rule("already-ported").suggestion)], False
    return [Finding("x86-asm-file", "blocker", display, x86_line, snippet(lines[x86_line - 1]),
                    rule("x86-asm-file").suggestion)], False


def scan_go_asm(display: str, path: Path) -> list[Finding]:
    """`foo_amd64.s` in a Go package: fine with `foo_arm64.s`, slower with a pure-Go fallback, else broken."""
    directory = path.parent
    arm = path.with_name(path.name.replace("_amd64.s", "_arm64.s"))
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
