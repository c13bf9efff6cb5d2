"""Output formats and the `xch scan` command line: json shape, csv, escaped html, a real xlsx, exit codes."""

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
    (tmp_path / "Makefile").write_text("CFLAGS += =cmd|' /C calc'!A0 -mavx2\n")
    return tmp_path


def test_json_shape(tree):
    data = json.loads(render(scan_path(tree), "json"))
    assert set(data) == {"findings", "summary", "binaries"}
    for finding in data["findings"]:
        assert set(finding) == {"rule", "severity", "file", "line", "snippet", "suggestion"}
        assert finding["severity"] in ("blocker", "warning", "info")
    s = data["summary"]
    assert s["by_severity"] == {"blocker": 3, "warning": 1, "info": 0}
    assert s["by_rule"] == {"arch-macro-no-arm": 1, "build-x86-flag": 1, "x86-intrinsic": 1, "x86-intrinsic-header": 1}
    assert s["effort_by_file"]["src/k.c"]["hours"] == 2.5 and s["effort_by_file"]["src/k.c"]["size"] == "small"
    assert s["files_scanned"] == 3


def test_csv_rows(tree):
    rows = list(csv.DictReader(io.StringIO(render(scan_path(tree), "csv"))))
    assert [r["rule"] for r in rows][:3] == ["build-x86-flag", "x86-intrinsic-header", "x86-intrinsic"]
    assert rows[1]["file"] == "src/k.c" and rows[1]["line"] == "1"


def test_html_escapes_file_names_and_snippets(tree):
    html = render(scan_path(tree), "html")
    assert "<script>alert" not in html and "evil<b>" not in html
    assert "evil&lt;b&gt;.c" in html
    assert "移植扫描报告 / Porting scan report" in html


def test_xlsx_is_a_real_workbook_and_guards_formulas(tree, tmp_path):
    out = tmp_path / "r.xlsx"
    out.write_bytes(render(scan_path(tree), "xlsx"))
    book = load_workbook(out)
    assert book.sheetnames == ["Findings", "Summary", "Effort", "Binaries"]
    rows = list(book["Findings"].iter_rows(values_only=True))
    assert rows[0] == ("rule", "severity", "file", "line", "snippet", "suggestion")
    assert len(rows) == 5
    flag = next(r for r in rows if r[0] == "build-x86-flag")
    assert flag[4].startswith("CFLAGS")  # snippet kept as text
    assert all(not (isinstance(c, str) and c.startswith("=")) for r in rows for c in r)


def test_text_summary(tree):
    text = render(scan_path(tree), "text")
    assert "blocker: 3" in text and "src/k.c:1" in text and "effort per file" in text


def test_cli_scan_exit_codes_and_out(tree, tmp_path):
    done = xch("scan", str(tree), "--format", "json")
    assert done.returncode == 1, done.stderr  # blockers found
    assert json.loads(done.stdout)["summary"]["by_severity"]["blocker"] == 3
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
