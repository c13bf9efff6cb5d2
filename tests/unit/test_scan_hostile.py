"""Hostile trees for `xch scan` (issue 12): very deep folders, FIFOs, file names that are not UTF-8.

Each case failed before: a tree 1,500 folders deep raised RecursionError in the walk; a FIFO given
as the path hung the scan reading it; a non-UTF-8 name made `--format html`/`--format csv` die
encoding the report and the xlsx unusable. The property tests keep the whole surface closed: any
tree of odd names and special files scans, and every format of its report is valid.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from harness.core.errors import InputError
from harness.scan import render, scan_path
from harness.scan.model import Finding, ScanReport

PROJECT = Path(__file__).resolve().parents[2]
X86 = "#include <immintrin.h>\nint f(void){ return _mm_cvtsi128_si32(_mm_setzero_si128()); }\n"
BAD_NAME = b"bad\xff\xfe\x01name.c"


def xch(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=PROJECT, capture_output=True,
                          timeout=timeout)


def _remove_deep(top: Path) -> None:
    """Delete a deep tree without recursion (shutil.rmtree, and pytest's own clean-up of old temporary
    folders, would hit the recursion limit on it)."""
    pending = [str(top)]
    while pending:
        folder = pending[-1]
        with os.scandir(folder) as entries:
            listed = list(entries)
        subdirs = [e.path for e in listed if e.is_dir(follow_symlinks=False)]
        for entry in listed:
            if not entry.is_dir(follow_symlinks=False):
                os.unlink(entry.path)
        if subdirs:
            pending.extend(subdirs)
        else:
            os.rmdir(folder)
            pending.pop()


def test_a_tree_1500_folders_deep_is_scanned(tmp_path):
    top = folder = tmp_path / "deep"
    folder.mkdir()
    try:
        for _ in range(1500):
            folder = folder / "d"
            folder.mkdir()
        (folder / "a.c").write_text(X86)
        report = scan_path(tmp_path)  # before: RecursionError in the walk
        deepest = [f for f in report.findings if f.file.endswith("/d/a.c")]
        assert len(deepest) == 2 and deepest[0].file.count("/") == 1501
    finally:
        _remove_deep(top)


def test_a_fifo_named_like_source_is_refused_as_the_path_and_skipped_in_a_tree(tmp_path):
    fifo = tmp_path / "x.c"
    os.mkfifo(fifo)
    (tmp_path / "k.c").write_text(X86)
    done = xch("scan", str(fifo), timeout=60)  # before: blocked forever reading the FIFO
    assert done.returncode == 2 and b"not a regular file" in done.stderr
    with pytest.raises(InputError, match="not a regular file"):
        scan_path(fifo)
    tree = xch("scan", str(tmp_path), "--format", "json", timeout=60)
    assert tree.returncode == 1 and b'"k.c"' in tree.stdout and b'"x.c"' not in tree.stdout


def test_a_file_name_that_is_not_utf8_in_every_format(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / os.fsdecode(BAD_NAME)).write_text(X86)
    shown = "bad\\xff\\xfe\\x01name.c"
    for fmt in ("csv", "html", "text", "json"):
        out = tmp_path / f"r.{fmt}"
        done = xch("scan", str(tree), "--format", fmt, "--out", str(out))
        assert done.returncode == 1, done.stderr  # blockers found, no internal error
        text = out.read_bytes().decode("utf-8")  # valid UTF-8
        assert shown in text.replace("\\\\", "\\")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text())))
    assert {r["file"] for r in rows} == {shown}
    xlsx = tmp_path / "r.xlsx"
    assert xch("scan", str(tree), "--format", "xlsx", "--out", str(xlsx)).returncode == 1
    book = load_workbook(xlsx)  # before: openpyxl could not reopen it
    assert book["Findings"]["C2"].value == shown


# -- properties ----------------------------------------------------------------------------------------

NAMES = st.binary(min_size=1, max_size=10).filter(lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b".."))
CONTENTS = st.sampled_from([
    X86, "int x;\n", "#if defined(__x86_64__)\n__asm__(\"pause\");\n#endif\n", "CFLAGS += -mavx2 -Dx64_BIT\n",
    "\x00\x01\xff garbage", "#!/bin/sh\nrdmsr 0x10\n", "bits 64\nmov rax, rdi\n", "#if (\n#else\n#endif\n#endif\n",
    # lines built to make a backtracking regex or a recursive parser blow up
    "INLINE" * 40 + " _mm_add_ps(a, b);\n", "static int f(x) " + "a" * 60 + " {\n  __asm__(\"pause\");\n}\n", "#if " + "(" * 600 + "1" + ")" * 600 + "\n#endif\n",
    "#if " + "!" * 3000 + "1\n#endif\n", "if(" + "NOT " * 3000 + "X)\nendif()\n", "ifeq (" * 200 + "\nendif\n",
    "if " + "(" * 300 + "true" + ")" * 300 + "\nendif\n", "case $host_cpu in\n" * 50 + "x86_64*) CFLAGS=-Dx86 ;;\n",
    "$(shell " * 100 + "uname -m" + ")" * 100 + "\n", "register long r asm(\"" + "r" * 5000 + "\");\n",
    "CFLAGS += " + "-Dx86_64 " * 2000 + "\n", "/dev/cpu/" + "%" * 4000 + "/msr\n"])
SUFFIXES = st.sampled_from([b".c", b".h", b".S", b".asm", b"", b".sh", b".mk", b".cmake", b".txt"])
ENTRIES = st.lists(st.tuples(st.lists(NAMES, max_size=3), NAMES, SUFFIXES, CONTENTS,
                             st.sampled_from(["file", "file", "file", "fifo", "symlink", "Makefile", "CMakeLists.txt",
                                              "meson.build", "configure.ac"])),
                   min_size=1, max_size=8)


def _build(root: Path, entries) -> None:  # type: ignore[no-untyped-def]
    base = os.fsencode(root)
    for folders, name, suffix, content, kind in entries:
        folder = os.path.join(base, *folders) if folders else base
        try:
            os.makedirs(folder, exist_ok=True)
            if kind in ("Makefile", "CMakeLists.txt", "meson.build", "configure.ac"):
                name, suffix = kind.encode(), b""
            path = os.path.join(folder, name + suffix)
            if os.path.lexists(path) or os.path.isdir(path):
                continue
            if kind == "fifo":
                os.mkfifo(path)
            elif kind == "symlink":
                os.symlink(b"/etc/passwd", path)
            else:
                with open(path, "wb") as fh:
                    fh.write(content.encode("utf-8", "surrogateescape"))
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            continue


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=ENTRIES)
def test_any_tree_of_odd_names_and_special_files_scans_and_renders(tmp_path_factory, entries):
    root = tmp_path_factory.mktemp("tree")
    _build(root, entries)
    report = scan_path(root)
    for fmt in ("text", "json", "csv", "html"):
        output = render(report, fmt)
        assert isinstance(output, str)
        output.encode("utf-8")  # every text is printable UTF-8, whatever the names were
    out = root.parent / f"{root.name}.xlsx"
    out.write_bytes(render(report, "xlsx"))  # type: ignore[arg-type]
    load_workbook(out)


TEXTS = st.text(alphabet=st.characters(blacklist_categories=()), max_size=30) | st.binary(max_size=20).map(
    lambda b: b.decode("utf-8", "surrogateescape"))


@settings(max_examples=80, deadline=None)
@given(files=st.lists(st.tuples(TEXTS, st.integers(0, 10**6), TEXTS), min_size=1, max_size=6), note=TEXTS)
def test_report_formats_hold_any_text(files, note):
    report = ScanReport(root="r", target_arch="aarch64", notes=[note])
    report.findings = [Finding("x86-intrinsic", "blocker", name, line, snippet, "s") for name, line, snippet in files]
    for fmt in ("text", "json", "csv", "html"):
        output = render(report, fmt)
        output.encode("utf-8")  # type: ignore[union-attr]
    data = render(report, "xlsx")
    load_workbook(io.BytesIO(data))  # type: ignore[arg-type]
