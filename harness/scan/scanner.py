"""Walk a source tree, package or binary and run every rule on it: the one entry point, `scan_path`.

A tree is read in stages, because whether a line is a blocker depends on the rest of the tree:
1. the build files (harness.scan.build_dispatch): which sources only x86 builds select, which
   -D macros each build passes, which probe results are x86-only;
2. every C/C++ file's preprocessor structure, re-evaluated in a few passes while the project's
   own macros become known (harness.scan.macros: `#if HAVE_X86_ASM` is decided by where the
   tree defines HAVE_X86_ASM);
3. where ARM code already lives (NEON/SVE, aarch64 branches, ARM-named files and folders), so an
   x86 file of a ported project is told from an unported one;
4. the rules, file by file, and one finding per line.
Packages (deb, rpm, tarball, jar, wheel) are unpacked into a temporary folder first; packages
met inside a tree are streamed for their ELF files only. Both go through the one package reader,
harness.artifacts (bounded expansion, hostile files refused with a clear message). The walk is
iterative (a tree thousands of folders deep is fine), follows no symlink and opens nothing but
regular files (a FIFO named `x.c` is skipped, never read).
"""

from __future__ import annotations

import os
import stat
import tempfile
import time
from functools import partial
from pathlib import Path

from harness import artifacts
from harness.core.errors import InputError
from harness.scan import binary, cpp
from harness.scan import patterns as P
from harness.scan.build_dispatch import read_build_model
from harness.scan.build_make import is_makefile
from harness.scan.build_model import BuildModel, FlagSite
from harness.scan.calls import HEADER_SUFFIXES, CallGraph
from harness.scan.cexpr import Value
from harness.scan.intrinsics import is_x86_header
from harness.scan.macros import ProjectMacros
from harness.scan.model import Finding, ScanReport, printable
from harness.scan.platforms import SOURCE, TARGET
from harness.scan.rules import rule
from harness.scan.source_asm import ASM_SUFFIXES, GO_X86_ASM, arm_sibling, scan_asm, scan_go_asm
from harness.scan.source_build import CONFIG_SCRIPTS, is_build_file, scan_build, scan_config_script
from harness.scan.source_c import C_SUFFIXES, CAnalysis, analyse_c, one_per_line, restructure, scan_c
from harness.scan.source_lang import (
    JAVA_ARCHIVES,
    is_requirements_file,
    scan_java_archive,
    scan_requirements,
    scan_wheel_name,
)
from harness.scan.source_script import SCRIPT_SUFFIXES, scan_script
from harness.scan.target_os import glibc_for

SKIP_DIRS = {".git", ".hg", ".svn", ".pc", "node_modules", "__pycache__", ".tox", ".venv", "venv", ".mypy_cache"}
TEXT_LIMIT = 8 * 1024 * 1024
TARGET_ARCHES = ("aarch64", "x86_64")
MACRO_PASSES = 3
TEMPLATE_SUFFIXES = (".h.in", ".h.cmake", ".h.meson", ".hin", ".h.cmakein")


def _walk(root: Path) -> list[Path]:
    """Regular files under root, sorted, without recursion (no depth limit) and without symlinks."""
    files: list[Path] = []
    pending = [root]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as entries:
                listed = sorted(entries, key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for entry in listed:
            try:
                if entry.is_symlink():
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in SKIP_DIRS:
                        subdirs.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    files.append(Path(entry.path))
            except OSError:
                continue
        pending.extend(reversed(subdirs))
    return sorted(files, key=lambda p: p.parts)


def _read_bytes(path: Path, limit: int) -> bytes:
    """At most `limit` bytes of a regular file; opening never blocks (O_NONBLOCK, no symlink)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path.name}: not a regular file")
        chunks = []
        left = limit
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _read_text(path: Path, report: ScanReport, display: str) -> str | None:
    try:
        if path.lstat().st_size > TEXT_LIMIT:
            report.notes.append(f"{display}: larger than {TEXT_LIMIT // (1024 * 1024)} MB, not scanned as source")
            return None
        return _read_bytes(path, TEXT_LIMIT).decode("utf-8", errors="replace")
    except OSError as exc:
        report.notes.append(f"{display}: unreadable: {exc.strerror or exc}")
        return None


def safe_display(text: str) -> str:
    """A path as text every report format can hold (see harness.scan.model.printable)."""
    return printable(text)


def _kind(path: Path) -> str:
    name = path.name
    suffix = path.suffix
    if suffix in C_SUFFIXES or suffix.lower() in {".cpp", ".cc", ".hpp"}:
        return "c"
    if name.endswith(TEMPLATE_SUFFIXES) or name in ("config.h.in", "config.hin"):
        return "c-template"
    if suffix == ".s" and GO_X86_ASM.search(name) and any(path.parent.glob("*.go")):
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
    if suffix.lower() in SCRIPT_SUFFIXES:
        return "script"
    kind = artifacts.kind_of(path)
    if kind in ("deb", "rpm", "zip"):
        return "package"
    if kind == "tar":
        return "tarball"
    return "other"


class _Scan:
    def __init__(self, root: Path, report: ScanReport) -> None:
        self.root = root
        self.report = report
        self.model = BuildModel(root)
        self.analyses: dict[Path, CAnalysis] = {}
        self.calls = CallGraph({})
        self.macros = ProjectMacros()
        self.shared: set[str] = set()
        self._applies: dict[tuple[str, str], Value] = {}

    def display(self, path: Path) -> str:
        return safe_display(path.relative_to(self.root).as_posix() if path != self.root else path.name)

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
                        self.elf(f"{display}!/{safe_display(member.path)}", member=member, judge_arch=not in_java)
        except artifacts.ArchiveError as exc:
            r = rule("archive-unreadable")
            self.add([Finding(r.id, r.severity, display, 0, exc.message[:200], r.suggestion)])

    # -- stage 1 and 2: the build model and the project's macros -------------------------------------
    def read_model(self, files: list[Path], kinds: dict[Path, str]) -> None:
        texts: dict[Path, str | None] = {}

        def read(path: Path) -> str | None:
            if path not in texts:
                texts[path] = _read_text(path, self.report, self.display(path))
            return texts[path]

        build_files = [p for p in files if kinds[p] == "build"]
        self.model = read_build_model(self.root, build_files, self.display, read)

    def base_reach(self, path: Path) -> dict[str, Value]:
        """Where the build compiles a file at all: another architecture's folder (neither build), an
        ARM folder (not x86_64), an x86 folder (not aarch64), or where the build selects it."""
        display = self.display(path)
        if P.OTHER_ARCH_NAME.search(display):
            return {TARGET: 0, SOURCE: 0}
        selection = self.model.selection(path)
        reach: dict[str, Value] = dict(selection.reach) if selection is not None else dict(cpp.ALWAYS)
        folder = path.parent.relative_to(self.root).as_posix() if path.parent != self.root else ""
        if folder and P.ARM_NAME.search("/" + folder):
            reach[SOURCE] = 0
        elif folder and P.X86_FOLDER.search(folder) and (selection is None or self._selected_inside(selection, folder)):
            reach[TARGET] = 0  # an x86 folder nothing outside it selects: its code is x86's
        return reach

    def flag_applies(self, flag: FlagSite, origin: str) -> Value:
        """Does a build file's -D reach a file? A Makefile's flags reach the sources it names (and
        the headers they include); other build files' flags reach their folder. For a header, all
        its compilations (the files including it) must agree, else it is unknown (None)."""
        key = (flag.origin, origin)
        if key not in self._applies:
            path = Path(origin)
            roots = self._compilations(path)
            named = self.model.selected_by.get(flag.origin, set())
            folder = (self.root / flag.origin).parent
            if named and is_makefile(Path(flag.origin)):
                hits = [any(p == n or n in p.parents for n in named) for p in roots]
            else:
                hits = [folder == p.parent or folder in p.parents for p in roots]
            self._applies[key] = 1 if all(hits) else (None if any(hits) else 0)
        return self._applies[key]

    def _compilations(self, path: Path) -> list[Path]:
        """The files whose compilation includes `path`: itself, and every file that includes it."""
        includers = [p for p in self.calls.includers(path) if p.suffix.lower() not in HEADER_SUFFIXES]
        own = [] if path.suffix.lower() in HEADER_SUFFIXES and includers else [path]
        return own + includers or [path]

    @staticmethod
    def _selected_inside(selection, folder: str) -> bool:  # type: ignore[no-untyped-def]
        """The build file that selects it lives in the x86 folder itself (debug/i386/Makefile)."""
        where = selection.where.rsplit(":", 1)[0]
        match = P.X86_FOLDER.search(folder)
        return match is not None and where.startswith(folder[:match.end()].lstrip("/") + "/")

    def evaluate_macros(self, templates: dict[Path, CAnalysis]) -> None:
        """Re-evaluate every file's #if structure while the project's macros become known."""
        included = {Path(h).name for found in self.analyses.values() for _, h, quoted in found.includes if quoted}
        self.shared = {str(p) for p in list(self.analyses) + list(templates)
                       if p.suffix.lower() in HEADER_SUFFIXES or p.name in included or p in templates}
        macros = self._macros({})
        for _ in range(MACRO_PASSES):
            sites: dict[str, list[cpp.DefineSite]] = {}
            for path, found in list(self.analyses.items()) + list(templates.items()):
                key = str(path)
                structure = cpp.analyse(found.directives, len(found.bare), macros.lookup_for(key),
                                        self.base_reach(path), macros.is_arm)
                restructure(found, structure)
                sites[key] = structure.defines
            macros = self._macros(sites)
        self.macros = macros

    def _macros(self, sites: dict[str, list[cpp.DefineSite]]) -> ProjectMacros:
        macros = ProjectMacros(self.model.variables, self.flag_applies)
        for flag in self.model.flags:
            if flag.scoped and flag.reach[TARGET] != 0:
                continue  # one target's flag: no news about other files, unless aarch64 never gets it
            macros.add_flag(f"build:{flag.origin}", flag.name, flag.reach, flag.value, flag)
        for key, defined in sites.items():
            macros.add(key, defined, key in self.shared)
        return macros

    # -- stage 3: ARM evidence and other architectures ---------------------------------------------------
    def other_arch(self, path: Path, display: str) -> str:
        """Why a file is another architecture's code: its folder, or an other-arch intrinsics header
        it includes (directly or through the tree's headers) with no x86 header beside it."""
        if P.OTHER_ARCH_NAME.search(display):
            return f"{display} is in another architecture's folder"
        files = [path, *sorted(self.calls.closure(path))]
        x86 = any(not quoted and is_x86_header(h) for f in files for _, h, quoted in self.analyses[f].includes)
        for f in files:
            found = self.analyses[f]
            if found.other_arch_header and not x86:
                return f"it includes {found.other_arch_header}"
            if f != path and P.OTHER_ARCH_NAME.search(self.display(f)) and not x86:
                return f"it includes {self.display(f)}"
        return ""

    # -- the scan ----------------------------------------------------------------------------------------
    def run(self, files: list[Path]) -> None:
        kinds = {path: _kind(path) for path in files}
        source_arch = self.report.target_arch != "x86_64"
        if source_arch:
            self.read_model(files, kinds)
        templates: dict[Path, CAnalysis] = {}
        for path, kind in kinds.items():
            if kind not in ("c", "c-template"):
                continue
            text = _read_text(path, self.report, self.display(path))
            if text is None:
                continue
            if kind == "c":
                self.analyses[path] = analyse_c(text)
            elif source_arch:
                templates[path] = analyse_c(text, template=True)
        self.calls = CallGraph(self.analyses)
        if source_arch:
            self.evaluate_macros(templates)
        arm_dirs: dict[Path, str] = {}
        for path, found in self.analyses.items():
            if found.has_arm_path and path.parent not in arm_dirs:
                arm_dirs[path.parent] = self.display(path)
        for path, kind in kinds.items():
            if kind == "asm" and P.ARM_NAME.search(self.display(path)):
                arm_dirs.setdefault(path.parent, self.display(path))
        pending_tarballs = 0
        for path in files:
            kind = kinds[path]
            display = self.display(path)
            self.report.files_scanned += 1
            if kind == "c" and source_arch and path in self.analyses:
                self.add(scan_c(display, self.analyses[path], self._ported_reason(path, display, arm_dirs),
                                self.other_arch(path, display), self.calls.own_names(path),
                                partial(self.calls.dead_on_target, path)))
            elif kind == "asm" and source_arch:
                text = _read_text(path, self.report, display)
                if text is not None:
                    self.add(scan_asm(display, path, text, self.model.selection(path), self.root,
                                      self.macros.lookup_for(str(path)))[0])
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
            elif kind == "script" and source_arch:
                text = _read_text(path, self.report, display)
                if text is not None:
                    self.add(scan_script(display, text))
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
            elif kind == "c-template":
                self.report.files_scanned -= 1
            else:
                try:
                    head = _read_bytes(path, 64)
                except OSError:
                    self.report.files_scanned -= 1
                    continue
                if binary.is_elf(head[:4]):
                    self.elf(display, path=path)
                elif head.startswith(b"#!") and source_arch:
                    text = _read_text(path, self.report, display)
                    if text is not None:
                        self.add(scan_script(display, text))
                else:
                    self.report.files_scanned -= 1
        if source_arch:
            self.add(self.model.findings)
        self.report.findings = one_per_line(self.report.findings)
        if pending_tarballs:
            self.report.notes.append(f"{pending_tarballs} tarball(s) inside the tree were not unpacked; scan them "
                                     "on their own")

    def _ported_reason(self, path: Path, display: str, arm_dirs: dict[Path, str]) -> str | None:
        """An ARM path outside this file that covers it: the build's ARM alternative, an ARM sibling
        file, or (for a file named for x86) ARM code elsewhere in its directory."""
        selection = self.model.selection(path)
        if selection is not None and selection.x86_only and selection.arm_alternative:
            return f"is selected for x86 only by {selection.where}, ARM alternative at {selection.arm_alternative}"
        sibling = arm_sibling(path, self.root) if P.X86_NAME.search(display) else None
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
    try:
        mode = source.stat().st_mode
    except OSError:
        raise InputError(f"scan: {safe_display(str(source))}: no such file or directory") from None
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        raise InputError(f"scan: {safe_display(str(source))}: not a regular file or folder (a FIFO, socket or "
                         "device is not scanned)")
    report = ScanReport(root=safe_display(str(source)), target_arch=target_arch, target_os=target_os,
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
            report.notes.append(f"unpacked {count} file(s) from {safe_display(source.name)}")
    else:
        scan = _Scan(source.resolve().parent, report)
        scan.run([source.resolve()])
    report.elapsed_s = time.monotonic() - started
    return report
