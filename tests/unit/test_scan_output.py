"""Output formats and the `xch scan` command line: json shape, grouped csv/text/html/xlsx, escaped html,
a real xlsx, exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook

from harness.scan import render, scan_path

PROJECT = Path(__file__).resolve().parents[2]


def xch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=PROJECT, capture_output=True, text=True,
                          timeout=120, env={**os.environ})


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "k.c").write_text("#include <immintrin.h>\n/* </td><script>alert(1)</script> */\n"
                                          "int f(void) { return _mm_cvtsi128_si32(_mm_setzero_si128()); } // <b>\n")
    (tmp_path / "src" / "evil<b>.c").write_text("#if defined(__x86_64__)\nint x = 1;\n#endif\n")
    (tmp_path / "src" / "m.c").write_text("#include <stdint.h>\nint a(void) { return _mm_popcnt_u32(1); }\n"
                                          "int b(void) { return _mm_popcnt_u32(2); }\n\n"
                                          "int c(void) { return _mm_popcnt_u32(3); }\n")
    (tmp_path / "Makefile").write_text("CFLAGS += =cmd|' /C calc'!A0 -mavx2\n")
    return tmp_path


def test_json_shape(tree):
    data = json.loads(render(scan_path(tree), "json"))
    assert set(data) == {"findings", "summary", "binaries"}
    for finding in data["findings"]:
        assert set(finding) == {"rule", "severity", "file", "line", "snippet", "suggestion"}
        assert finding["severity"] in ("blocker", "warning", "info")
    s = data["summary"]
    assert s["by_severity"] == {"blocker": 6, "warning": 1, "info": 0}
    assert s["by_rule"] == {"arch-macro-no-arm": 1, "build-x86-flag": 1, "x86-intrinsic": 4, "x86-intrinsic-header": 1}
    assert s["effort_by_file"]["src/k.c"]["hours"] == 2.5 and s["effort_by_file"]["src/k.c"]["size"] == "small"
    assert s["files_scanned"] == 4
    # JSON keeps every line, the grouped formats do not
    assert [(f["file"], f["line"]) for f in data["findings"] if f["file"] == "src/m.c"] == [
        ("src/m.c", 2), ("src/m.c", 3), ("src/m.c", 5)]


def test_csv_groups_per_file_and_rule(tree):
    rows = list(csv.DictReader(io.StringIO(render(scan_path(tree), "csv"))))
    assert list(rows[0]) == ["severity", "rule", "file", "count", "lines", "snippet", "suggestion"]
    assert [(r["severity"], r["rule"], r["file"], r["count"], r["lines"]) for r in rows] == [
        ("blocker", "build-x86-flag", "Makefile", "1", "1"),
        ("blocker", "x86-intrinsic", "src/k.c", "1", "3"),
        ("blocker", "x86-intrinsic-header", "src/k.c", "1", "1"),
        ("blocker", "x86-intrinsic", "src/m.c", "3", "2-3, 5"),
        ("warning", "arch-macro-no-arm", "src/evil<b>.c", "1", "1")]
    assert rows[3]["snippet"].startswith("int a(void)")  # the first line's snippet


def test_html_escapes_file_names_and_snippets(tree):
    html = render(scan_path(tree), "html")
    assert "<script>alert" not in html and "evil<b>" not in html
    assert "evil&lt;b&gt;.c" in html
    assert "移植扫描报告 / Porting scan report" in html
    assert "<td>src/m.c</td><td>3</td><td>2-3, 5</td>" in html  # one row per file and rule, with its lines


def test_xlsx_is_a_real_workbook_and_guards_formulas(tree, tmp_path):
    out = tmp_path / "r.xlsx"
    out.write_bytes(render(scan_path(tree), "xlsx"))
    book = load_workbook(out)
    assert book.sheetnames == ["Findings", "Lines", "Summary", "Effort", "Binaries"]
    groups = list(book["Findings"].iter_rows(values_only=True))
    assert groups[0] == ("severity", "rule", "file", "count", "lines", "snippet", "suggestion")
    assert len(groups) == 6 and ("blocker", "x86-intrinsic", "src/m.c", 3, "2-3, 5") == groups[4][:5]
    lines = list(book["Lines"].iter_rows(values_only=True))
    assert lines[0] == ("rule", "severity", "file", "line", "snippet", "suggestion")
    assert len(lines) == 8  # every line, as in JSON
    flag = next(r for r in lines if r[0] == "build-x86-flag")
    assert flag[4].startswith("CFLAGS")  # snippet kept as text
    for sheet in (groups, lines):
        assert all(not (isinstance(c, str) and c.startswith("=")) for r in sheet for c in r)


def test_text_summary(tree):
    text = render(scan_path(tree), "text")
    assert "blocker: 6" in text and "effort per file" in text
    row = next(line for line in text.split("\n") if "src/m.c" in line and "x86-intrinsic" in line)
    assert row.split()[:5] == ["blocker", "x86-intrinsic", "src/m.c", "3", "2-3,"]


def test_cli_scan_exit_codes_and_out(tree, tmp_path):
    done = xch("scan", str(tree), "--format", "json")
    assert done.returncode == 1, done.stderr  # blockers found
    assert json.loads(done.stdout)["summary"]["by_severity"]["blocker"] == 6
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "a.c").write_text("int main(void) { return 0; }\n")
    assert xch("scan", str(clean)).returncode == 0
    out = tmp_path / "report.xlsx"
    done = xch("scan", str(tree), "--format", "xlsx", "--out", str(out))
    assert done.returncode == 1 and out.stat().st_size > 1000 and "findings" in done.stderr


@pytest.mark.parametrize("args,message", [
    (["scan", "/nonexistent/xch"], "no such file"),
    (["scan", ".", "--format", "xlsx"], "--format xlsx needs --out"),
    (["scan", ".", "--target-os", "windows-11"], "unknown OS"),
])
def test_cli_bad_input_exits_2(args, message):
    done = xch(*args)
    assert done.returncode == 2 and message in done.stderr
