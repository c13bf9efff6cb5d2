"""Files in and out: export to xlsx/csv/json, and `import-list` of an existing public list (CSV).

Exports are written atomically (temp file + rename) so a reader never sees half a list. CSV is
UTF-8 with a BOM, which Excel needs to show Chinese; the xlsx has bilingual headers. An imported list
becomes `external` entries (status pending unless the list states one), in one transaction; the file
is checked whole first (`listfile`): a bad row rejects the whole file, naming the row and the column.
Every text cell of a CSV or xlsx goes through `harness.core.spreadsheet`, so none runs as a formula.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select

from harness.core.errors import InputError
from harness.core.spreadsheet import csv_text, xlsx_append
from harness.core.storage import atomic_write, atomic_write_json
from harness.whitelist import audit
from harness.whitelist import platforms as plat
from harness.whitelist.compile import _get_or_create, _replace_current, current_entry, platform_id
from harness.whitelist.listfile import arch_from, os_split, read_list  # noqa: F401  (read_list: the CLI's entry)
from harness.whitelist.query import EXPORT_COLUMNS, export_row
from harness.whitelist.runfolder import canonical, sm3
from harness.whitelist.schema import entries, product_versions, products, vendors

FORMATS = ("xlsx", "csv", "json")
CHECKPOINT_SHEET = "verification"  # read back by verify.read_checkpoints


def render(rows: list[dict[str, Any]], fmt: str, checkpoint: dict[str, Any] | None = None) -> bytes:
    """The export file's bytes; an xlsx also carries `checkpoint` (the audit head) on a 'verification' sheet."""
    data = [export_row(r) for r in rows]
    keys = [k for k, _ in EXPORT_COLUMNS]
    if fmt == "json":
        return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    if fmt == "csv":
        return csv_text(data, keys).encode("utf-8-sig")
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
            xlsx_append(ws, [item[k] for k in keys])
        ws.freeze_panes = "A2"
        if checkpoint:
            sheet = wb.create_sheet(CHECKPOINT_SHEET)
            for item in _checkpoint_items(checkpoint, len(data)):
                xlsx_append(sheet, item)
        for column, (key, label) in zip(ws.columns, EXPORT_COLUMNS, strict=False):
            width = max([len(label)] + [len(str(item[key])) for item in data[:500]])
            ws.column_dimensions[column[0].column_letter].width = min(60, width + 2)
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()
    raise InputError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")


def _checkpoint_items(checkpoint: dict[str, Any], entries: int) -> list[tuple[str, Any]]:
    return [("audit_row", checkpoint["audit_row"]), ("audit_hash", checkpoint["audit_hash"]),
            ("exported_at", audit.now()), ("entries", entries),
            ("about", "审计日志检查点：xch whitelist verify --checkpoint 本文件 可确认数据库日志未被截断或改写 / "
                      "audit log checkpoint: `xch whitelist verify --checkpoint THIS_FILE` shows whether the "
                      "database's log was truncated or rewritten since this export")]


def write_export(rows: list[dict[str, Any]], fmt: str, out: Path,
                 checkpoint: dict[str, Any] | None = None) -> tuple[Path, Path | None]:
    """Write the export; returns (file, where its checkpoint is). CSV and JSON have no place for one inside,
    so theirs goes to `<file>.checkpoint.json` next to it, with the export's SM3."""
    payload = render(rows, fmt, checkpoint)
    atomic_write(out, payload)
    if not checkpoint:
        return out, None
    if fmt == "xlsx":
        return out, out
    side = out.with_name(out.name + ".checkpoint.json")
    atomic_write_json(side, {**dict(_checkpoint_items(checkpoint, len(rows))), "export": out.name,
                             "export_sm3": sm3(payload)})
    return out, side


# -- import-list ----------------------------------------------------------------------------------

PAYLOAD = ("certificate_id", "date", "test_organization", "authenticate_link", "status")
KEY_MAX = 200  # products.key
OBJECT_ID_MAX = 60  # audit_log.object_id


def _bounded(text: str, limit: int) -> str:
    """`text`, or when longer than `limit` its head and an SM3 of the whole: unique, and it fits the column."""
    return text if len(text) <= limit else f"{text[: limit - 17]}~{sm3(text.encode('utf-8'))[:16]}"


def import_list(conn: Connection, path: Path, rows: list[dict[str, str]], actor: str) -> dict[str, int]:
    """Load rows as external entries; the same row twice changes nothing. Returns counts."""
    t = audit.now()
    counts = {"added": 0, "unchanged": 0, "superseded": 0}
    for row in rows:
        vendor_id, _ = _get_or_create(conn, vendors, {"name": row["company_name"]}, {"created_at": t})
        category = row["category"]
        product = conn.execute(select(products.c.id).where(products.c.vendor_id == vendor_id,
                                                           products.c.name == row["product_name"])).scalar()
        if product is None:
            key = _bounded("ext:" + re.sub(r"\s+", "-", f"{row['company_name']}:{row['product_name']}".strip().lower()),
                           KEY_MAX)
            product, _ = _get_or_create(conn, products, {"key": key}, {"vendor_id": vendor_id, "name": row["product_name"],
                                                                        "category": category, "created_at": t})
        pv, _ = _get_or_create(conn, product_versions, {"product_id": product, "version": row["product_version"]},
                               {"contact": "", "created_at": t})
        os_id, os_name, os_version = os_split(row)
        platform_text = row.get("platform_type_and_server_model", "")
        prow = plat.declared(row.get("arch") or arch_from(platform_text), os_id, os_version, os_name)
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
    audit.record(conn, actor, "list.import", "list", _bounded(path.name, OBJECT_ID_MAX),
                 {"path": str(path), "rows": len(rows), **counts})
    return counts
