"""Reading the whitelist: filtered entry rows for `query`, and the rows `export` writes.

One row per entry, flattened with its product, vendor, platform, evidence run, the entry it is
covered by (result reuse) and its certificate. Export columns follow the openEuler compatibility
list for commercial software (product_name, product_version, company_name, type, test_organization,
platform_type_and_server_model, os_version, ...) plus what xinchuang catalogues add.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, or_, select
from sqlalchemy.orm import aliased

from harness.whitelist import platforms as plat
from harness.whitelist.schema import certificates, entries, platforms, product_versions, products, runs, vendors


@dataclass
class Filters:
    product: str | None = None
    vendor: str | None = None
    category: str | None = None
    arch: str | None = None
    cpu: str | None = None
    os: str | None = None
    status: str | None = None
    stage: str | None = None
    include_history: bool = False


def _like(value: str) -> str:
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _certificates(conn: Connection) -> dict[tuple[int, int], dict[str, Any]]:
    """The newest unrevoked certificate per product version x platform."""
    found: dict[tuple[int, int], dict[str, Any]] = {}
    for row in conn.execute(select(certificates).where(certificates.c.revoked_at.is_(None))
                            .order_by(certificates.c.issued_at, certificates.c.id)).mappings():
        found[(row["product_version_id"], row["platform_id"])] = dict(row)
    return found


def entry_rows(conn: Connection, filters: Filters | None = None) -> list[dict[str, Any]]:
    f = filters or Filters()
    source = aliased(entries)
    source_run = aliased(runs)
    source_platform = aliased(platforms)
    q = (select(entries, products.c.key.label("product_key"), products.c.name.label("product_name"),
                products.c.category, product_versions.c.version, vendors.c.name.label("vendor_name"),
                platforms.c.arch, platforms.c.cpu_vendor, platforms.c.cpu_family, platforms.c.cpu_model,
                platforms.c.os_id, platforms.c.os_name, platforms.c.os_version, platforms.c.kernel, platforms.c.glibc,
                platforms.c.accelerator, platforms.c.emulation,
                runs.c.run_uid, runs.c.source_path, runs.c.digest, runs.c.lab,
                source_run.c.run_uid.label("src_run_uid"), source_run.c.source_path.label("src_path"),
                source_run.c.digest.label("src_digest"), source_platform.c.arch.label("src_arch"),
                source_platform.c.cpu_vendor.label("src_cpu_vendor"), source_platform.c.cpu_model.label("src_cpu_model"),
                source_platform.c.os_name.label("src_os_name"), source_platform.c.os_version.label("src_os_version"),
                source_platform.c.accelerator.label("src_accelerator"))
         .join(product_versions, product_versions.c.id == entries.c.product_version_id)
         .join(products, products.c.id == product_versions.c.product_id)
         .join(vendors, vendors.c.id == products.c.vendor_id)
         .join(platforms, platforms.c.id == entries.c.platform_id)
         .outerjoin(runs, runs.c.id == entries.c.run_id)
         .outerjoin(source, source.c.id == entries.c.covered_by_id)
         .outerjoin(source_run, source_run.c.id == source.c.run_id)
         .outerjoin(source_platform, source_platform.c.id == source.c.platform_id))
    if not f.include_history:
        q = q.where(entries.c.current)
    if f.product:
        q = q.where(or_(products.c.key.ilike(_like(f.product), escape="\\"),
                        products.c.name.ilike(_like(f.product), escape="\\")))
    if f.vendor:
        q = q.where(vendors.c.name.ilike(_like(f.vendor), escape="\\"))
    if f.category:
        q = q.where(products.c.category == f.category)
    if f.arch:
        q = q.where(platforms.c.arch == f.arch)
    if f.cpu:
        q = q.where(or_(*[c.ilike(_like(f.cpu), escape="\\") for c in (platforms.c.cpu_vendor, platforms.c.cpu_family,
                                                                        platforms.c.cpu_model)]))
    if f.os:
        q = q.where(or_(platforms.c.os_id.ilike(_like(f.os), escape="\\"),
                        platforms.c.os_name.ilike(_like(f.os), escape="\\")))
    if f.status:
        q = q.where(entries.c.status == f.status)
    if f.stage:
        q = q.where(entries.c.stage == f.stage)
    q = q.order_by(products.c.name, product_versions.c.version, platforms.c.arch, platforms.c.os_version, entries.c.id)
    certs = _certificates(conn)
    today = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    out = []
    for r in conn.execute(q).mappings():
        cert = certs.get((r["product_version_id"], r["platform_id"])) if r["current"] else None
        external = json.loads(r["external"] or "{}")
        covered = None
        if r["covered_by_id"] is not None:
            covered = {"entry": r["covered_by_id"], "run": r["src_run_uid"], "evidence": r["src_path"],
                       "digest": r["src_digest"],
                       "platform": plat.describe({"arch": r["src_arch"], "cpu_vendor": r["src_cpu_vendor"],
                                                  "cpu_model": r["src_cpu_model"], "os_name": r["src_os_name"],
                                                  "os_version": r["src_os_version"], "accelerator": r["src_accelerator"]})}
        out.append({
            "id": r["id"], "product": r["product_name"], "product_id": r["product_key"], "version": r["version"],
            "vendor": r["vendor_name"], "category": r["category"], "arch": r["arch"],
            "cpu": " ".join(x for x in (r["cpu_vendor"], r["cpu_model"]) if x), "cpu_vendor": r["cpu_vendor"],
            "cpu_family": r["cpu_family"], "cpu_model": r["cpu_model"], "os": r["os_name"] or r["os_id"],
            "os_id": r["os_id"], "os_version": r["os_version"], "kernel": r["kernel"], "glibc": r["glibc"],
            "accelerator": r["accelerator"], "emulation": r["emulation"], "status": r["status"], "level": r["level"],
            "stage": r["stage"], "kind": r["kind"], "reasons": json.loads(r["reasons"] or "[]"),
            "covered_by": covered, "run": r["run_uid"], "evidence": r["source_path"], "digest": r["digest"],
            "lab": r["lab"], "test_organisation": r["test_organisation"] or external.get("test_organization", ""),
            "tested_at": r["tested_at"],
            "certificate": cert["cert_no"] if cert else (external.get("certificate_id") or None),
            "certificate_issued": cert["issued_at"] if cert else (external.get("date") or None),
            "valid_until": cert["expires_at"] if cert else None,
            # a newer incompatible/pending result on the platform makes the certificate stale, not void
            "certificate_valid": bool(cert and cert["expires_at"] > today
                                      and r["status"] in ("compatible", "conditional")),
            "external": external or None, "current": bool(r["current"]), "superseded_by": r["superseded_by_id"],
        })
    return out


EXPORT_COLUMNS: list[tuple[str, str]] = [
    ("product_name", "软件名称 Product"),
    ("product_version", "软件版本 Version"),
    ("company_name", "厂商 Vendor"),
    ("type", "类别 Category"),
    ("test_organization", "测试机构 Test organisation"),
    ("platform_type_and_server_model", "CPU/服务器平台 CPU/server platform"),
    ("os_name", "操作系统 OS"),
    ("os_version", "操作系统版本 OS version"),
    ("certificate_id", "证书编号 Certificate id"),
    ("date", "日期 Date"),
    ("arch", "架构 Architecture"),
    ("cpu_family", "CPU系列 CPU family"),
    ("accelerator", "加速卡 Accelerator"),
    ("status", "结论 Status"),
    ("level", "认证等级 Level"),
    ("stage", "推广阶段 Stage"),
    ("valid_until", "有效期至 Valid until"),
    ("covered_by", "结论继承自 Covered by"),
    ("conditions", "条件/原因 Conditions or reasons"),
    ("authenticate_link", "证据 Evidence"),
]


def export_row(row: dict[str, Any]) -> dict[str, str]:
    """One entry in the public list's shape (all strings: what a spreadsheet shows)."""
    covered = row["covered_by"]
    date = (row["certificate_issued"] or row["tested_at"] or "")[:10]
    return {
        "product_name": row["product"], "product_version": row["version"], "company_name": row["vendor"],
        "type": row["category"], "test_organization": row["test_organisation"],
        "platform_type_and_server_model": " ".join(x for x in (row["arch"], row["cpu"]) if x),
        "os_name": row["os"], "os_version": row["os_version"], "certificate_id": row["certificate"] or "",
        "date": date, "arch": row["arch"], "cpu_family": row["cpu_family"], "accelerator": row["accelerator"],
        "status": row["status"], "level": row["level"] or "", "stage": row["stage"],
        "valid_until": (row["valid_until"] or "")[:10],
        "covered_by": f"#{covered['entry']} {covered['platform']} (run {covered['run']})" if covered else "",
        "conditions": "; ".join(row["reasons"]),
        "authenticate_link": (covered or {}).get("evidence") or row["evidence"]
        or ((row["external"] or {}).get("authenticate_link") or ""),
    }
