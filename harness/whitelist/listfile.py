"""Reading an existing public list (CSV) for `whitelist import-list`: every row checked before anything is written.

Provincial catalogues and the openEuler compatibility list name their columns in English or Chinese
(`ALIASES`); this module maps them to canonical keys and refuses the whole file, naming file, row,
column and what was expected, when any cell is wrong. Only a list that passed every check reaches
`exchange.import_list`, which writes it in one transaction: nothing is ever partially imported.

What a cell must be (the limits are characters, and no wider than the database column it lands in):

| column                          | accepted                                                                 |
|---------------------------------|--------------------------------------------------------------------------|
| product_name                    | required, at most 300                                                    |
| product_version                 | required, at most 100                                                    |
| company_name                    | required, at most 200                                                    |
| type                            | a category of the product manifest (`harness.product.CATEGORIES`) or its |
|                                 | Chinese name (数据库, 中间件, ...); empty means `application`              |
| test_organization               | at most 300                                                              |
| platform_type_and_server_model  | at most 200                                                              |
| os_name, os_version             | at most 80 each (one of them required by the header)                     |
| arch                            | an architecture name xch knows (aarch64/arm64, x86_64/amd64, ...)        |
| certificate_id                  | at most 100                                                              |
| date                            | a calendar date 1970-2100: 2024-05-10, 2024/5/10, 2024.05.10,            |
|                                 | 2024年5月10日 or 20240510 (a time after it is ignored); stored as ISO     |
| status                          | compatible, conditional, incompatible, pending or 兼容/有条件兼容/不兼容/待测 |
| authenticate_link               | at most 2000                                                             |

No cell may hold a control character (NUL, newline, tab, ...): these are one-line fields, and NUL
cannot be stored in PostgreSQL at all. The file itself may be at most 64 MiB. A leading apostrophe
that `whitelist export` put before a formula-like cell (`'=1+1`) is taken off again.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
from pathlib import Path

from harness.core.errors import InputError
from harness.core.spreadsheet import csv_uncell
from harness.product import CATEGORIES, canonical_arch
from harness.whitelist.policy import STATUSES

MAX_LIST_BYTES = 64 * 1024 * 1024
MAX_PROBLEMS_SHOWN = 50
TEXT_LIMITS = {"product_name": 300, "product_version": 100, "company_name": 200, "test_organization": 300,
               "platform_type_and_server_model": 200, "os_name": 80, "os_version": 80, "certificate_id": 100,
               "authenticate_link": 2000}
DEFAULT_CATEGORY = "application"

ALIASES: dict[str, tuple[str, ...]] = {
    "product_name": ("product_name", "productname", "product", "name", "软件名称", "产品名称", "产品"),
    "product_version": ("product_version", "productversion", "version", "软件版本", "产品版本", "版本", "版本号"),
    "company_name": ("company_name", "companyname", "vendor", "company", "厂商", "厂商名称", "厂家名称", "企业名称"),
    "type": ("type", "category", "类别", "软件类型", "产品类别", "分类"),
    "test_organization": ("test_organization", "testorganization", "test_organisation", "测试机构"),
    "platform_type_and_server_model": ("platform_type_and_server_model", "platform", "cpu", "server_model",
                                       "cpu/服务器平台", "服务器型号", "cpu平台", "芯片", "cpu型号"),
    "os_name": ("os_name", "os", "操作系统", "操作系统名称"),
    "os_version": ("os_version", "openeuler_version", "操作系统版本", "系统版本"),
    "arch": ("arch", "architecture", "架构"),
    "certificate_id": ("certificate_id", "certificate", "证书编号", "证书id", "证书号"),
    "date": ("date", "日期", "认证日期", "发布日期"),
    "status": ("status", "结论", "状态"),
    "authenticate_link": ("authenticate_link", "link", "证据", "认证链接"),
}
REQUIRED = ("product_name", "product_version", "company_name")
CATEGORY_NAMES = {"操作系统": "operating-system", "数据库": "database", "中间件": "middleware", "办公": "office",
                  "办公软件": "office", "应用": "application", "应用软件": "application", "驱动": "driver",
                  "工具": "tool", "服务器": "server", "整机": "server", "芯片": "chip", "存储": "storage",
                  "网络": "network", "终端": "terminal"}
STATUS_NAMES = {"兼容": "compatible", "通过": "compatible", "有条件兼容": "conditional", "不兼容": "incompatible",
                "待测": "pending", "待定": "pending"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_DATE = re.compile(r"(?:(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?|(\d{4})(\d{2})(\d{2}))"
                   r"(?:[ T]\d{1,2}:\d{2}(?::\d{2})?Z?)?")


def _header_key(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", (text or "").strip().lower()).replace("（", "(").replace("）", ")")


def _show(value: str) -> str:
    """A cell quoted in an error message, cut so a 5 MB cell does not become a 5 MB message."""
    return repr(value) if len(value) <= 60 else f"{value[:40]!r}… ({len(value)} characters)"


def parse_date(text: str) -> str | None:
    """ISO `YYYY-MM-DD` of a list's date cell, or None when it is not a calendar date between 1970 and 2100."""
    match = _DATE.fullmatch(text)
    if not match:
        return None
    year, month, day = (int(g) for g in (match.groups()[:3] if match.group(1) else match.groups()[3:]))
    try:
        date = datetime.date(year, month, day)
    except ValueError:
        return None
    return date.isoformat() if 1970 <= year <= 2100 else None


def category_of(text: str) -> str | None:
    if not text:
        return DEFAULT_CATEGORY
    category = CATEGORY_NAMES.get(text, text.lower())
    return category if category in CATEGORIES else None


def _check_row(row: dict[str, str], where: str, problems: list[str]) -> None:
    """Validate and normalise one row in place (category, status, date, arch); problems name the column."""
    for key, value in row.items():
        if _CONTROL.search(value):
            problems.append(f"{where}: column {key} contains a control character (newline, tab, NUL, ...): "
                            f"{_show(value)}; expected one line of text")
        limit = TEXT_LIMITS.get(key)
        if limit is not None and len(value) > limit:
            problems.append(f"{where}: column {key} is {len(value)} characters long; expected at most {limit}")
    for key in REQUIRED:
        if not row.get(key):
            problems.append(f"{where}: column {key} is empty")
    category = category_of(row.get("type", ""))
    if category is None:
        problems.append(f"{where}: column type {_show(row['type'])} is not a category; expected one of "
                        f"{', '.join(CATEGORIES)} (or {'/'.join(CATEGORY_NAMES)})")
    row["category"] = category or ""
    status = row.get("status", "")
    status = STATUS_NAMES.get(status, status.lower())
    if status and status not in STATUSES:
        problems.append(f"{where}: column status {_show(row['status'])} is not one of {', '.join(STATUSES)} "
                        f"(or {'/'.join(STATUS_NAMES)})")
    row["status"] = status or "pending"
    if row.get("date"):
        iso = parse_date(row["date"])
        if iso is None:
            problems.append(f"{where}: column date {_show(row['date'])} is not a date; expected a calendar date "
                            "such as 2024-05-10 (also 2024/5/10, 2024.05.10, 2024年5月10日, 20240510)")
        row["date"] = iso or ""
    if row.get("arch"):
        arch = canonical_arch(row["arch"])
        if arch is None or arch == "all":
            problems.append(f"{where}: column arch {_show(row['arch'])} is not an architecture; expected e.g. "
                            "aarch64 (arm64), x86_64 (amd64), loongarch64, mips64, riscv64")
        row["arch"] = arch or ""


def read_list(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV list with canonical keys; InputError naming the file, row and column on bad input."""
    try:
        size = path.stat().st_size
        if size > MAX_LIST_BYTES:
            raise InputError(f"{path}: {size} bytes; a list may be at most {MAX_LIST_BYTES // (1024 * 1024)} MiB "
                             "(split it into several files)")
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: a folder, not a CSV file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc}); save the list as UTF-8 CSV") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror})") from None
    reader = csv.reader(io.StringIO(text))
    try:
        return _rows(path, reader)
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            limits = ", ".join(f"{k}: {v}" for k, v in TEXT_LIMITS.items())
            raise InputError(f"{path}: line {reader.line_num}: a cell is longer than {csv.field_size_limit()} "
                             f"characters; no column takes that much (at most, in characters: {limits}); "
                             "nothing was imported") from None
        raise InputError(f"{path}: line {reader.line_num}: not valid CSV ({exc}); nothing was imported") from None


def _rows(path: Path, reader) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    header = next(reader, None)
    if not header:
        raise InputError(f"{path}: empty file (expected a header row with {', '.join(REQUIRED)})")
    lookup = {_header_key(alias): key for key, aliases in ALIASES.items() for alias in aliases}
    columns = [lookup.get(_header_key(h)) for h in header]
    missing = [k for k in REQUIRED if k not in columns]
    if missing:
        raise InputError(f"{path}: header lacks column(s) {', '.join(missing)} (found: "
                         f"{', '.join(_show(h) for h in header[:30])}); accepted names: "
                         + "; ".join(f"{k}: {'/'.join(ALIASES[k][:4])}" for k in missing))
    if "os_version" not in columns and "os_name" not in columns:
        raise InputError(f"{path}: header needs os_version or os_name (操作系统版本/操作系统)")
    rows: list[dict[str, str]] = []
    problems: list[str] = []
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(header):
            problems.append(f"row {number}: {len(cells)} cells but the header has {len(header)} columns")
            continue
        row = {key: csv_uncell(cells[i].strip()) for i, key in enumerate(columns) if key and i < len(cells)}
        _check_row(row, f"row {number}", problems)
        row["_row"] = str(number)
        rows.append(row)
    if problems:
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        raise InputError(f"{path}: cannot import this list; nothing was imported:\n  - " + "\n  - ".join(shown)
                         + (f"\n  … and {more} more problem(s)" if more else ""))
    if not rows:
        raise InputError(f"{path}: no data rows")
    return rows


def arch_from(text: str) -> str:
    """The architecture a platform cell implies (`鲲鹏920 / TaiShan 200` -> aarch64), or ''."""
    t = (text or "").lower()
    if any(k in t for k in ("aarch64", "arm64", "arm", "kunpeng", "鲲鹏", "phytium", "飞腾")):
        return "aarch64"
    if any(k in t for k in ("loongarch", "loongson", "龙芯")):
        return "loongarch64"
    if any(k in t for k in ("mips",)):
        return "mips64el"
    if any(k in t for k in ("sw64", "申威", "sunway")):
        return "sw_64"
    if any(k in t for k in ("x86", "amd64", "intel", "amd", "hygon", "海光", "zhaoxin", "兆芯")):
        return "x86_64"
    return ""


def os_split(row: dict[str, str]) -> tuple[str, str, str]:
    """(os_id, os_name, os_version) from `openEuler 22.03 LTS SP1` style cells."""
    name = row.get("os_name", "")
    version = row.get("os_version", "")
    if not name and version:
        match = re.match(r"^\s*([A-Za-z][A-Za-z ]*?)\s+(\d.*)$", version)
        name, version = (match.group(1), match.group(2)) if match else ("openEuler", version)
    os_id = {"openeuler": "openEuler", "kylin": "kylin", "uos": "uos", "麒麟": "kylin", "银河麒麟": "kylin",
             "统信": "uos", "统信uos": "uos", "uniontech": "uos"}.get(
        name.strip().lower(), name.strip().split(" ")[0].lower() if name.strip() else "")
    return os_id, name, version
