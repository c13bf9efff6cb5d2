"""Files in and out: export to xlsx/csv/json, and `import-list` of an existing public list (CSV).

Exports are written atomically (temp file + rename) so a reader never sees half a list. CSV is
UTF-8 with a BOM, which Excel needs to show Chinese; the xlsx has bilingual headers. An imported list
becomes `external` entries (status pending unless the list states one), in one transaction: a bad
row rejects the whole file, naming the row and the column.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select

from harness.core.errors import InputError
from harness.core.storage import atomic_write
from harness.whitelist import audit
from harness.whitelist import platforms as plat
from harness.whitelist.compile import _get_or_create, _replace_current, current_entry, platform_id
from harness.whitelist.policy import STATUSES
from harness.whitelist.query import EXPORT_COLUMNS, export_row
from harness.whitelist.runfolder import CATEGORIES, canonical
from harness.whitelist.schema import entries, product_versions, products, vendors

FORMATS = ("xlsx", "csv", "json")


def render(rows: list[dict[str, Any]], fmt: str) -> bytes:
    data = [export_row(r) for r in rows]
    keys = [k for k, _ in EXPORT_COLUMNS]
    if fmt == "json":
        return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(data)
        return buf.getvalue().encode("utf-8-sig")
    if fmt == "xlsx":
        from openpyxl import Workbook
        from openpyxl.styles import Font

        wb = Workbook()
        ws = wb.active
        ws.title = "whitelist"
        ws.append([label for _, label in EXPORT_COLUMNS])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for item in data:
            ws.append([item[k] for k in keys])
        ws.freeze_panes = "A2"
        for column, (key, label) in zip(ws.columns, EXPORT_COLUMNS, strict=False):
            width = max([len(label)] + [len(str(item[key])) for item in data[:500]])
            ws.column_dimensions[column[0].column_letter].width = min(60, width + 2)
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()
    raise InputError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")


def write_export(rows: list[dict[str, Any]], fmt: str, out: Path) -> Path:
    payload = render(rows, fmt)
    atomic_write(out, payload)
    return out


# -- import-list ----------------------------------------------------------------------------------

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
PAYLOAD = ("certificate_id", "date", "test_organization", "authenticate_link", "status")
CATEGORY_NAMES = {"操作系统": "operating-system", "数据库": "database", "中间件": "middleware", "办公": "office",
                  "办公软件": "office", "应用": "application", "应用软件": "application", "驱动": "driver",
                  "工具": "tool", "服务器": "server", "整机": "server", "芯片": "chip", "存储": "storage",
                  "网络": "network", "终端": "terminal"}
STATUS_NAMES = {"兼容": "compatible", "通过": "compatible", "有条件兼容": "conditional", "不兼容": "incompatible",
                "待测": "pending", "待定": "pending"}


def _header_key(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", (text or "").strip().lower()).replace("（", "(").replace("）", ")")


def _arch_from(text: str) -> str:
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


def read_list(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV list with canonical keys; InputError naming the file, row and column on bad input."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc}); save the list as UTF-8 CSV") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise InputError(f"{path}: empty file (expected a header row with {', '.join(REQUIRED)})")
    lookup = {_header_key(alias): key for key, aliases in ALIASES.items() for alias in aliases}
    columns = [lookup.get(_header_key(h)) for h in header]
    missing = [k for k in REQUIRED if k not in columns]
    if missing:
        raise InputError(f"{path}: header lacks column(s) {', '.join(missing)} (found: {', '.join(header)}); "
                         f"accepted names: " + "; ".join(f"{k}: {'/'.join(ALIASES[k][:4])}" for k in missing))
    if "os_version" not in columns and "os_name" not in columns:
        raise InputError(f"{path}: header needs os_version or os_name (操作系统版本/操作系统)")
    rows, problems = [], []
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(header):
            problems.append(f"row {number}: {len(cells)} cells but the header has {len(header)} columns")
            continue
        row = {key: cells[i].strip() for i, key in enumerate(columns) if key and i < len(cells)}
        for key in REQUIRED:
            if not row.get(key):
                problems.append(f"row {number}: column {key} is empty")
        status = row.get("status", "")
        status = STATUS_NAMES.get(status, status.lower())
        if status and status not in STATUSES:
            problems.append(f"row {number}: column status {row['status']!r} is not one of {', '.join(STATUSES)}")
        row["status"] = status or "pending"
        row["_row"] = str(number)
        rows.append(row)
    if problems:
        raise InputError(f"{path}: cannot import this list; nothing was imported:\n  - " + "\n  - ".join(problems))
    if not rows:
        raise InputError(f"{path}: no data rows")
    return rows


def _os_split(row: dict[str, str]) -> tuple[str, str, str]:
    """(os_id, os_name, os_version) from `openEuler 22.03 LTS SP1` style cells."""
    name = row.get("os_name", "")
    version = row.get("os_version", "")
    if not name and version:
        match = re.match(r"^\s*([A-Za-z][A-Za-z ]*?)\s+(\d.*)$", version)
        name, version = (match.group(1), match.group(2)) if match else ("openEuler", version)
    os_id = {"openeuler": "openEuler", "kylin": "kylin", "uos": "uos", "麒麟": "kylin", "银河麒麟": "kylin",
             "统信": "uos", "统信uos": "uos", "uniontech": "uos"}.get(name.strip().lower(), name.strip().split(" ")[0].lower() if name.strip() else "")
    return os_id, name, version


def import_list(conn: Connection, path: Path, rows: list[dict[str, str]], actor: str) -> dict[str, int]:
    """Load rows as external entries; the same row twice changes nothing. Returns counts."""
    t = audit.now()
    counts = {"added": 0, "unchanged": 0, "superseded": 0}
    for row in rows:
        vendor_id, _ = _get_or_create(conn, vendors, {"name": row["company_name"]}, {"created_at": t})
        category = CATEGORY_NAMES.get(row.get("type", ""), row.get("type", "").lower())
        if category not in CATEGORIES:
            category = category or "application"
        product = conn.execute(select(products.c.id).where(products.c.vendor_id == vendor_id,
                                                           products.c.name == row["product_name"])).scalar()
        if product is None:
            key = "ext:" + re.sub(r"\s+", "-", f"{row['company_name']}:{row['product_name']}".strip().lower())
            product, _ = _get_or_create(conn, products, {"key": key}, {"vendor_id": vendor_id, "name": row["product_name"],
                                                                        "category": category, "created_at": t})
        pv, _ = _get_or_create(conn, product_versions, {"product_id": product, "version": row["product_version"]},
                               {"contact": "", "created_at": t})
        os_id, os_name, os_version = _os_split(row)
        platform_text = row.get("platform_type_and_server_model", "")
        prow = plat.declared(row.get("arch") or _arch_from(platform_text), os_id, os_version, os_name)
        prow["cpu_model"] = platform_text
        prow["fingerprint"] = plat.fingerprint(prow)
        pid, _ = platform_id(conn, prow)
        external = {k: row.get(k, "") for k in ("certificate_id", "date", "test_organization", "authenticate_link",
                                                 "status")}
        external["source"] = f"{path.name} row {row['_row']}"
        same = {k: external[k] for k in PAYLOAD}
        seen = conn.execute(select(entries.c.external).where(entries.c.product_version_id == pv,
                                                             entries.c.platform_id == pid,
                                                             entries.c.kind == "external")).scalars().all()
        if any({k: json.loads(e).get(k, "") for k in PAYLOAD} == same for e in seen):
            counts["unchanged"] += 1
            continue
        old = current_entry(conn, pv, pid)
        values = {"product_version_id": pv, "platform_id": pid, "kind": "external", "status": row["status"],
                  "level": "compatible" if row["status"] in ("compatible", "conditional") else None, "stage": "lab",
                  "reasons": canonical([f"from external list {path.name}"]), "run_id": None, "targets": "",
                  "external": canonical(external), "test_organisation": row.get("test_organization", ""),
                  "tested_at": row.get("date", ""), "created_at": t}
        if old is not None and old["kind"] == "tested":
            # a lab result on the same platform stays current; the list row is kept as history
            entry_id = conn.execute(insert(entries).values(**values, current=False, superseded_by_id=old["id"])
                                    ).inserted_primary_key[0]
            counts["added"] += 1
        else:
            entry_id = _replace_current(conn, old, values)
            counts["superseded" if old is not None else "added"] += 1
        audit.record(conn, actor, "entry.external", "entry", entry_id, {"source": external["source"],
                                                                        "status": row["status"]})
    audit.record(conn, actor, "list.import", "list", path.name, {"path": str(path), "rows": len(rows), **counts})
    return counts
