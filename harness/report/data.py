"""Everything the site shows, read once from the whitelist database into plain dicts.

Why one load and not a query per page: a site of 5,000 products x 20 platforms has ~100,000 entries
and tens of thousands of pages; a few bulk SELECTs grouped in Python are far faster than a query
per page, and they read one consistent snapshot (a single read transaction).

Nothing here formats or escapes: values stay as stored, and the templates (autoescape on) are the
only place that turns them into HTML.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from harness.whitelist import platforms as plat
from harness.whitelist.query import entry_rows
from harness.whitelist.schema import (
    certificates,
    check_results,
    entries,
    metrics,
    platforms,
    product_versions,
    products,
    run_targets,
    runs,
    vendors,
)

EXPIRING_DAYS = 90
FAILED = ("failed", "error")


def slug(text: str, prefix: str = "") -> str:
    """A file name for any string: readable ASCII part + a hash, so `<script>` or 中文 ids are safe and unique."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:48]
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
    return f"{prefix}{readable}-{digest}" if readable else f"{prefix}{digest}"


def now_utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def shift_days(stamp: str, days: int) -> str:
    t = time.mktime(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) + days * 86400
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.localtime(t))


@dataclass
class SiteData:
    generated_at: str
    db: str
    platforms: dict[int, dict[str, Any]] = field(default_factory=dict)  # only platforms with current entries
    products: dict[str, dict[str, Any]] = field(default_factory=dict)  # product key -> product with versions
    rows: list[dict[str, Any]] = field(default_factory=list)  # matrix rows: one per product version
    runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    checks_by_run: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    certificates: list[dict[str, Any]] = field(default_factory=list)
    metrics_by_pv: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    run_by_digest: dict[str, int] = field(default_factory=dict)

    @property
    def entries(self) -> list[dict[str, Any]]:
        return [e for row in self.rows for e in row["cells"].values()]


def _platform(row: dict[str, Any]) -> dict[str, Any]:
    p = dict(row)
    p["label"] = plat.describe(p) or p["arch"]
    p["cpu_label"] = " ".join(x for x in (p["cpu_vendor"], p["cpu_family"]) if x) or p["arch"]
    p["os_label"] = " ".join(x for x in (p["os_name"] or p["os_id"], p["os_version"]) if x)
    p["emulated"] = bool(p["emulation"])
    p["slug"] = f"p{p['id']}"
    return p


def load(conn: Connection, db_label: str, generated_at: str | None = None) -> SiteData:
    """Read the current whitelist, its runs, check results, metrics and certificates."""
    data = SiteData(generated_at=generated_at or now_utc(), db=db_label)
    keys = {r.id: (r.platform_id, r.product_version_id)
            for r in conn.execute(select(entries.c.id, entries.c.platform_id, entries.c.product_version_id)
                                  .where(entries.c.current))}
    all_platforms = {r["id"]: _platform(dict(r)) for r in conn.execute(select(platforms)).mappings()}
    contacts = {r.id: r.contact for r in conn.execute(select(product_versions.c.id, product_versions.c.contact))}

    by_pv: dict[int, dict[str, Any]] = {}
    for e in entry_rows(conn):
        platform_id, pv_id = keys[e["id"]]
        e["platform_id"], e["product_version_id"] = platform_id, pv_id
        data.platforms.setdefault(platform_id, all_platforms[platform_id])
        row = by_pv.get(pv_id)
        if row is None:
            row = by_pv[pv_id] = {"pv_id": pv_id, "key": e["product_id"], "name": e["product"], "version": e["version"],
                                  "vendor": e["vendor"], "category": e["category"], "contact": contacts.get(pv_id, ""),
                                  "slug": slug(e["product_id"], "prod-"), "cells": {}}
        row["cells"][platform_id] = e
    data.rows = sorted(by_pv.values(), key=lambda r: (r["name"].lower(), r["version"], r["key"]))
    for row in data.rows:
        product = data.products.setdefault(row["key"], {"key": row["key"], "name": row["name"], "vendor": row["vendor"],
                                                        "category": row["category"], "slug": row["slug"],
                                                        "versions": []})
        product["versions"].append(row)
    data.platforms = dict(sorted(data.platforms.items(),
                                 key=lambda kv: (kv[1]["declared_only"], kv[1]["arch"], kv[1]["cpu_label"],
                                                 kv[1]["os_label"], kv[0])))

    _load_runs(conn, data, all_platforms)
    _load_metrics(conn, data, all_platforms)
    _load_certificates(conn, data, all_platforms)
    return data


def _load_runs(conn: Connection, data: SiteData, all_platforms: dict[int, dict[str, Any]]) -> None:
    q = (select(runs.c.id, runs.c.run_uid, runs.c.digest, runs.c.suite, runs.c.lab, runs.c.organisation,
                runs.c.harness_version, runs.c.controller, runs.c.started_at, runs.c.ended_at, runs.c.imported_at,
                runs.c.source_path, runs.c.product_version_id, products.c.key.label("product_key"),
                products.c.name.label("product"), product_versions.c.version, vendors.c.name.label("vendor"))
         .join(product_versions, product_versions.c.id == runs.c.product_version_id)
         .join(products, products.c.id == product_versions.c.product_id)
         .join(vendors, vendors.c.id == products.c.vendor_id))
    for r in conn.execute(q).mappings():
        run = dict(r)
        run["slug"] = f"run-{run['id']}"
        run["product_slug"] = slug(run["product_key"], "prod-")
        run["targets"] = {}
        run["counts"] = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
        data.runs[run["id"]] = run
        data.run_by_digest[run["digest"]] = run["id"]
    targets = {}
    for r in conn.execute(select(run_targets.c.id, run_targets.c.run_id, run_targets.c.target,
                                 run_targets.c.platform_id, run_targets.c.facts)).mappings():
        facts = json.loads(r["facts"] or "{}")
        targets[r["id"]] = (r["run_id"], r["target"], r["platform_id"])
        if r["run_id"] in data.runs:
            data.runs[r["run_id"]]["targets"][r["target"]] = {
                "platform_id": r["platform_id"], "platform": all_platforms[r["platform_id"]],
                "emulation": facts.get("emulation") or "", "log_slug": slug(r["target"], "t-")}
    q = select(check_results.c.id, check_results.c.run_id, check_results.c.run_target_id, check_results.c.check_id,
               check_results.c.test_id, check_results.c.level, check_results.c.outcome, check_results.c.reason,
               check_results.c.duration_s, check_results.c.started_at, check_results.c.evidence)
    for r in conn.execute(q).mappings():
        run_id, target, platform_id = targets[r["run_target_id"]]
        check = dict(r)
        check["target"], check["platform_id"] = target, platform_id
        data.checks_by_run.setdefault(run_id, []).append(check)
        if run_id in data.runs and check["outcome"] in data.runs[run_id]["counts"]:
            data.runs[run_id]["counts"][check["outcome"]] += 1
    order = {"failed": 0, "error": 1, "skipped": 2, "passed": 3}
    for checks in data.checks_by_run.values():
        checks.sort(key=lambda c: (order.get(c["outcome"], 9), c["target"], c["check_id"], c["test_id"]))


def _load_metrics(conn: Connection, data: SiteData, all_platforms: dict[int, dict[str, Any]]) -> None:
    """Metrics with a baseline comparison, newest per product version x platform x metric."""
    q = (select(metrics.c.name, metrics.c.unit, metrics.c.direction, metrics.c.median, metrics.c.cv,
                metrics.c.baseline, metrics.c.verdict, metrics.c.run_id, check_results.c.check_id,
                run_targets.c.target, run_targets.c.platform_id, runs.c.product_version_id, runs.c.ended_at,
                runs.c.run_uid)
         .join(check_results, check_results.c.id == metrics.c.check_result_id)
         .join(run_targets, run_targets.c.id == check_results.c.run_target_id)
         .join(runs, runs.c.id == metrics.c.run_id)
         .where(metrics.c.baseline != "null"))
    newest: dict[tuple[int, int, str], dict[str, Any]] = {}
    for r in conn.execute(q).mappings():
        base = json.loads(r["baseline"] or "null")
        if not isinstance(base, dict) or base.get("ratio") is None:
            continue
        key = (r["product_version_id"], r["platform_id"], r["name"])
        if key in newest and newest[key]["ended_at"] >= r["ended_at"]:
            continue
        platform = all_platforms[r["platform_id"]]
        oriented = base.get("oriented_ratio") is not None
        newest[key] = {
            "name": r["name"], "unit": r["unit"], "direction": r["direction"], "median": r["median"], "cv": r["cv"],
            "verdict": r["verdict"], "check_id": r["check_id"], "target": r["target"], "run_id": r["run_id"],
            "run_uid": r["run_uid"], "ended_at": r["ended_at"], "platform": platform,
            "baseline_target": base.get("target") or "", "baseline_median": base.get("median"),
            "ratio": base.get("oriented_ratio") if oriented else base.get("ratio"),
            "ci_low": base.get("oriented_ci_low") if oriented else base.get("ci_low"),
            "ci_high": base.get("oriented_ci_high") if oriented else base.get("ci_high"),
            "raw_ratio": base.get("ratio"), "oriented": oriented, "p_value": base.get("p_value"),
            "significant": base.get("significant"),
            "emulated": bool(platform["emulation"] or base.get("emulation")),
        }
    for (pv_id, _, _), m in sorted(newest.items(), key=lambda kv: (kv[1]["platform"]["label"], kv[1]["name"])):
        data.metrics_by_pv.setdefault(pv_id, []).append(m)


def _load_certificates(conn: Connection, data: SiteData, all_platforms: dict[int, dict[str, Any]]) -> None:
    q = (select(certificates, products.c.key.label("product_key"), products.c.name.label("product"),
                product_versions.c.version, vendors.c.name.label("vendor"), products.c.category)
         .join(product_versions, product_versions.c.id == certificates.c.product_version_id)
         .join(products, products.c.id == product_versions.c.product_id)
         .join(vendors, vendors.c.id == products.c.vendor_id)
         .order_by(certificates.c.issued_at, certificates.c.id))
    for r in conn.execute(q).mappings():
        cert = dict(r)
        cert["platform"] = all_platforms[cert["platform_id"]]
        cert["approvers"] = json.loads(cert["approvers"] or "[]")
        cert["evidence"] = json.loads(cert["evidence_manifest"] or "{}")
        cert["slug"] = slug(cert["cert_no"], "cert-")
        cert["product_slug"] = slug(cert["product_key"], "prod-")
        cert["valid"] = cert["revoked_at"] is None and cert["expires_at"] > data.generated_at
        data.certificates.append(cert)


def counts_by(items: list[dict[str, Any]], key: str) -> list[tuple[str, dict[str, int]]]:
    """{value: {status: n, "total": n}} sorted by total, for the overview tables."""
    table: dict[str, dict[str, int]] = defaultdict(lambda: {"compatible": 0, "conditional": 0, "incompatible": 0,
                                                            "pending": 0, "total": 0})
    for item in items:
        cell = table[item.get(key) or "—"]
        cell[item["status"]] = cell.get(item["status"], 0) + 1
        cell["total"] += 1
    return sorted(table.items(), key=lambda kv: (-kv[1]["total"], kv[0]))


def failed_checks(data: SiteData, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The failed or errored checks behind one tested entry (its run, on its platform)."""
    run_id = data.run_by_digest.get(entry.get("digest") or "")
    if run_id is None:
        return []
    return [c for c in data.checks_by_run.get(run_id, []) if c["outcome"] in FAILED
            and c["platform_id"] == entry["platform_id"]]
