"""Walk a source tree, package or binary and run every rule on it: the one entry point, `scan_path`.

Two passes over a tree: the first finds where ARM code already lives (NEON/SVE, aarch64 macros,
ARM-named files) so the second can tell an x86 file of a ported project from an unported one.
Packages (deb, rpm, tarball, jar, wheel) are unpacked into a temporary folder first; packages
met inside a tree are streamed for their ELF files only. Both go through the one package reader,
harness.artifacts (bounded expansion, hostile files refused with a clear message).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from harness import artifacts
from harness.core.errors import InputError
from harness.scan import binary
from harness.scan import patterns as P
from harness.scan.model import Finding, ScanReport
from harness.scan.rules import rule
from harness.scan.source_asm import ASM_SUFFIXES, arm_sibling, scan_asm, scan_go_asm
from harness.scan.source_build import CONFIG_SCRIPTS, is_build_file, scan_build, scan_config_script
from harness.scan.source_c import C_SUFFIXES, analyse_c, scan_c
from harness.scan.source_lang import (
    JAVA_ARCHIVES,
    is_requirements_file,
    scan_java_archive,
    scan_requirements,
    scan_wheel_name,
)
from harness.scan.target_os import glibc_for

SKIP_DIRS = {".git", ".hg", ".svn", ".pc", "node_modules", "__pycache__", ".tox", ".venv", "venv", ".mypy_cache"}
TEXT_LIMIT = 8 * 1024 * 1024
TARGET_ARCHES = ("aarch64", "x86_64")


def _walk(root: Path) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if not path.is_symlink() and path.is_file():
                files.append(path)
    return files


def _read_text(path: Path, report: ScanReport, display: str) -> str | None:
    try:
        if path.stat().st_size > TEXT_LIMIT:
            report.notes.append(f"{display}: larger than {TEXT_LIMIT // (1024 * 1024)} MB, not scanned as source")
            return None
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        report.notes.append(f"{display}: unreadable: {exc}")
        return None


def _kind(path: Path) -> str:
    name = path.name
    suffix = path.suffix
    if suffix in C_SUFFIXES or suffix.lower() in {".cpp", ".cc", ".hpp"}:
        return "c"
    if name.endswith("_amd64.s") and any(path.parent.glob("*.go")):
        return "go-asm"
    if suffix in ASM_SUFFIXES:
        return "asm"
    if name in CONFIG_SCRIPTS:
        return "config-script"
    if is_build_file(path):
        return "build"
    if is_requirements_file(path):
        return "python"
    if suffix.lower() in JAVA_ARCHIVES:
        return "java"
    if artifacts.kind_of(path) in ("deb", "rpm", "zip"):
        return "package"
    if artifacts.kind_of(path) == "tar":
        return "tarball"
    return "other"


class _Scan:
    def __init__(self, root: Path, report: ScanReport) -> None:
        self.root = root
        self.report = report

    def display(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix() if path != self.root else path.name

    def add(self, findings: list[Finding]) -> None:
        self.report.findings.extend(findings)

    def elf(self, name: str, member: artifacts.Member | None = None, path: Path | None = None,
            judge_arch: bool = True) -> None:
        try:
            if member is not None:
                with member.spooled() as copy:
                    info = binary.read_elf(name, copy)
            else:
                with open(path, "rb") as fh:  # type: ignore[arg-type]
                    info = binary.read_elf(name, fh)
        except (binary.DamagedElf, OSError) as exc:
            r = rule("archive-unreadable")
            self.add([Finding(r.id, r.severity, name, 0, f"damaged ELF: {exc}"[:200], r.suggestion)])
            return
        findings = binary.judge(info, self.report.target_arch, self.report.target_glibc)
        if not judge_arch:
            findings = [f for f in findings if f.rule != "elf-arch-mismatch"]
        self.report.binaries.append(info)
        self.add(findings)

    def package(self, path: Path, display: str) -> None:
        """ELF files inside a package met in the tree, streamed."""
        in_java = path.suffix.lower() in JAVA_ARCHIVES or path.suffix.lower() == ".whl"
        try:
            with artifacts.open_archive(path, display=display) as archive:
                for member in archive.members():
                    if member.kind == "file" and binary.is_elf(member.head(4)):
                        self.elf(f"{display}!/{member.path}", member=member, judge_arch=not in_java)
        except artifacts.ArchiveError as exc:
            r = rule("archive-unreadable")
            self.add([Finding(r.id, r.severity, display, 0, exc.message[:200], r.suggestion)])

    def run(self, files: list[Path]) -> None:
        kinds = {path: _kind(path) for path in files}
        c_files = {p: None for p, k in kinds.items() if k == "c"}
        analyses = {}
        arm_dirs: dict[Path, str] = {}
        for path in c_files:
            text = _read_text(path, self.report, self.display(path))
            if text is None:
                continue
            analyses[path] = analyse_c(text)
            if analyses[path].has_arm_path and path.parent not in arm_dirs:
                arm_dirs[path.parent] = self.display(path)
        for path, kind in kinds.items():
            if kind == "asm" and P.ARM_NAME.search(self.display(path)):
                arm_dirs.setdefault(path.parent, self.display(path))
        source_arch = self.report.target_arch != "x86_64"
        pending_tarballs = 0
        for path in files:
            kind = kinds[path]
            display = self.display(path)
            self.report.files_scanned += 1
            if kind == "c" and source_arch and path in analyses:
                self.add(scan_c(display, analyses[path], self._ported_reason(path, display, arm_dirs)))
            elif kind == "asm" and source_arch:
                text = _read_text(path, self.report, display)
                if text is not None:
                    self.add(scan_asm(display, path, text)[0])
            elif kind == "go-asm" and source_arch:
                self.add(scan_go_asm(display, path))
            elif kind == "config-script" and source_arch:
                text = _read_text(path, self.report, display)
                if text is not None:
                    self.add(scan_config_script(display, text))
            elif kind == "build" and source_arch:
                text = _read_text(path, self.report, display)
                if text is not None:
                    self.add(scan_build(display, path, text))
            elif kind == "python" and source_arch:
                text = _read_text(path, self.report, display)
                if text is not None:
                    self.add(scan_requirements(display, path, text))
            elif kind == "java":
                if source_arch:
                    self.add(scan_java_archive(display, path))
                self.package(path, display)
            elif kind == "package":
                if path.suffix.lower() == ".whl" and source_arch:
                    self.add(scan_wheel_name(display, path))
                self.package(path, display)
            elif kind == "tarball":
                pending_tarballs += 1
            else:
                try:
                    with open(path, "rb") as fh:
                        head = fh.read(4)
                except OSError:
                    continue
                if binary.is_elf(head):
                    self.elf(display, path=path)
                else:
                    self.report.files_scanned -= 1
        if pending_tarballs:
            self.report.notes.append(f"{pending_tarballs} tarball(s) inside the tree were not unpacked; scan them "
                                     "on their own")

    def _ported_reason(self, path: Path, display: str, arm_dirs: dict[Path, str]) -> str | None:
        """An ARM path outside this file that covers it: an ARM sibling file, or (for a file named for x86)
        ARM code elsewhere in its directory."""
        sibling = arm_sibling(path) if P.X86_NAME.search(path.name) else None
        if sibling is not None:
            return f"has an ARM sibling ({sibling.name})"
        if P.X86_NAME.search(display) and path.parent in arm_dirs and arm_dirs[path.parent] != display:
            return f"is the x86 part of a ported module (ARM path in {arm_dirs[path.parent]})"
        return None


def scan_path(path: str | Path, target_arch: str = "aarch64", target_os: str = "") -> ScanReport:
    """Scan a source tree, a single file, or a package (tarball, deb, rpm, jar, wheel, zip)."""
    if target_arch not in TARGET_ARCHES:
        raise InputError(f"--target-arch {target_arch!r}: expected one of {', '.join(TARGET_ARCHES)}")
    source = Path(path)
    if not source.exists():
        raise InputError(f"scan: {source}: no such file or directory")
    report = ScanReport(root=str(source), target_arch=target_arch, target_os=target_os,
                        target_glibc=glibc_for(target_os) if target_os else "")
    started = time.monotonic()
    if source.is_dir():
        _Scan(source.resolve(), report).run(_walk(source.resolve()))
    elif artifacts.kind_of(source):
        with tempfile.TemporaryDirectory(prefix="xch-scan-") as tmp:
            left_out: list[str] = []
            count = artifacts.extract(source, Path(tmp), display=str(source), notes=left_out)
            report.notes += left_out
            scan = _Scan(Path(tmp), report)
            if source.suffix.lower() in JAVA_ARCHIVES:
                report.findings.extend(scan_java_archive(source.name, source))
            elif source.suffix.lower() == ".whl":
                report.findings.extend(scan_wheel_name(source.name, source))
            scan.run(_walk(Path(tmp)))
            report.notes.append(f"unpacked {count} file(s) from {source.name}")
    else:
        scan = _Scan(source.resolve().parent, report)
        scan.run([source.resolve()])
    report.elapsed_s = time.monotonic() - started
    return report

