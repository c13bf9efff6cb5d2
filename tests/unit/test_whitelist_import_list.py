"""`whitelist import-list` refuses what it cannot store faithfully, with file, row, column and what was expected.

Each case runs the real CLI on SQLite and PostgreSQL and checks that a refused file changed nothing
at all (every table's row count); the property test feeds random and hostile rows to the reader and
imports whatever it accepts into both databases.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from whitelist_lib import db_url, table_counts, wl  # noqa: E402,F401

from harness.core.errors import InputError  # noqa: E402
from harness.product import CATEGORIES  # noqa: E402
from harness.whitelist import db  # noqa: E402
from harness.whitelist.exchange import import_list  # noqa: E402
from harness.whitelist.listfile import TEXT_LIMITS, parse_date, read_list  # noqa: E402
from harness.whitelist.policy import STATUSES  # noqa: E402

HEADER = "软件名称,软件版本,厂商名称,类别,操作系统版本,日期,架构,结论\n"
GOOD = "达梦数据库,V8,达梦,数据库,22.03 LTS SP1,2024-05-10,arm64,兼容\n"


def write_list(tmp_path: Path, body: str, name: str = "list.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def refused(db: str, path: Path, *expected: str) -> str:
    wl("upgrade", db=db)
    before = table_counts(db)
    done = wl("import-list", str(path), "--by", "clerk", db=db)
    assert done.rc == 2, (done.rc, done.stderr[-2000:])
    assert str(path) in done.stderr and "nothing was imported" in done.stderr
    for part in expected:
        assert part in done.stderr, (part, done.stderr[-2000:])
    assert table_counts(db) == before, "a refused list changed the database"
    return done.stderr


def test_unknown_category_and_non_dates_are_refused_whole(tmp_path, db_url):
    path = write_list(tmp_path, GOOD + "B,1,V,games,22.03,2024-05-10,,\nC,1,V,数据库,22.03,notadate,,\n"
                                       "D,1,V,,22.03,2024-02-30,,\nE,1,V,tool,22.03,2024-05,banana,\n")
    text = refused(db_url, path, "row 3: column type 'games' is not a category; expected one of operating-system",
                   "row 4: column date 'notadate' is not a date; expected a calendar date such as 2024-05-10",
                   "row 5: column date '2024-02-30' is not a date", "row 6: column date '2024-05' is not a date",
                   "row 6: column arch 'banana' is not an architecture")
    assert "row 2" not in text  # the good row is not blamed, and it was not imported either (counts above)


def test_oversized_text_is_refused_with_the_limit(tmp_path, db_url):
    huge = write_list(tmp_path, "A" * 5_000_000 + ",1,V,database,22.03,,,\n", "huge.csv")
    refused(db_url, huge, "line 2: a cell is longer than", "product_name: 300")
    over = write_list(tmp_path, GOOD + "P" * 301 + ",1,V,database,22.03,,,\n" + "Q,1,V,database," + "9" * 81 + ",,,\n",
                      "over.csv")
    refused(db_url, over, "row 3: column product_name is 301 characters long; expected at most 300",
            "row 4: column os_version is 81 characters long; expected at most 80")


def test_control_characters_are_refused(tmp_path, db_url):
    path = write_list(tmp_path, '"A\x00B",1,V,database,22.03,,,\n"two\nlines",1,V,database,22.03,,,\n')
    refused(db_url, path, "row 2: column product_name contains a control character",
            "row 3: column product_name contains a control character")


def test_accepted_forms_are_normalised_and_long_names_fit(tmp_path, db_url):
    vendor, product = "厂" * TEXT_LIMITS["company_name"], "品" * TEXT_LIMITS["product_name"]
    body = (f"{product},{'v' * TEXT_LIMITS['product_version']},{vendor},middleware,openEuler 22.03,2024/5/9,amd64,\n"
            "B,1,V,Database,22.03,2024年5月10日,aarch64,有条件兼容\nC,1,V,,22.03,20240511 10:00,,\n")
    path = write_list(tmp_path, body, "a-list-file-name-longer-than-sixty-characters-" + "x" * 40 + ".csv")
    done = wl("import-list", str(path), "--by", "clerk", "--json", db=db_url)
    assert done.rc == 0, done.stderr
    rows = {r["product"][:1]: r for r in wl("query", "--json", db=db_url).json()}
    assert (rows["品"]["category"], rows["品"]["arch"], rows["品"]["certificate_issued"]) == (
        "middleware", "x86_64", "2024-05-09")
    assert rows["品"]["vendor"] == vendor and rows["品"]["product"] == product  # stored whole, not cut
    assert (rows["B"]["category"], rows["B"]["status"], rows["B"]["certificate_issued"]) == (
        "database", "conditional", "2024-05-10")
    assert (rows["C"]["category"], rows["C"]["certificate_issued"]) == ("application", "2024-05-11")


def test_parse_date():
    assert parse_date("2024-05-10") == parse_date("2024/5/10") == parse_date("2024.05.10") == "2024-05-10"
    assert parse_date("2024年5月10日") == parse_date("20240510") == parse_date("2024-05-10T08:00:00") == "2024-05-10"
    for bad in ("notadate", "2024-13-01", "2024-02-30", "1969-12-31", "2101-01-01", "10/05/2024", "2024-05-10x", ""):
        assert parse_date(bad) is None, bad


# -- property: whatever the rows, a clear refusal or rows both databases store ---------------------

COLUMNS = ["product_name", "product_version", "company_name", "type", "test_organization",
           "platform_type_and_server_model", "os_name", "os_version", "arch", "certificate_id", "date", "status",
           "authenticate_link"]
hostile = st.sampled_from(["", " ", "=1+1", "'=1+1", "\x00", "a\nb", "\t", "games", "notadate", "2024-02-30",
                           "2024/5/9", "数据库", "兼容", "maybe", "arm64", "banana", "bob\u200b", "Ｆｕｌｌ",
                           "x" * 301, "y" * 2001, "\ud7ff", "🙂" * 90])
cell = st.one_of(hostile, st.text(max_size=30), st.sampled_from(CATEGORIES + STATUSES))


def csv_text(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return buf.getvalue()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.lists(cell, min_size=len(COLUMNS), max_size=len(COLUMNS)), min_size=1, max_size=4))
def test_property_any_rows_are_refused_clearly_or_stored(tmp_path, db_url, rows):
    path = tmp_path / "prop.csv"
    path.write_text(csv_text(rows), encoding="utf-8")
    try:
        accepted = read_list(path)
    except InputError as exc:
        assert str(path) in str(exc)
        return
    for row in accepted:
        assert row["category"] in CATEGORIES and row["status"] in STATUSES
        assert all(len(row.get(k, "")) <= limit for k, limit in TEXT_LIMITS.items())
        assert not row.get("date") or parse_date(row["date"]) == row["date"]
    database = db.connect(db_url)
    try:
        with database.write() as conn:
            counts = import_list(conn, path, accepted, "prop")
        assert sum(counts.values()) == len(accepted)
    finally:
        database.dispose()


def test_a_list_is_refused_without_a_crash_when_it_is_not_a_file(tmp_path):
    with pytest.raises(InputError, match="a folder, not a CSV file"):
        read_list(tmp_path)
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InputError, match="not UTF-8"):
        read_list(tmp_path / "bin.csv")
