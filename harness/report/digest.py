"""The period digest: what was certified, found incompatible, expired, revoked or changed status in a period.

It reads the whitelist database directly (entries keep their history: a new entry supersedes the old
one, so a status change is an entry created in the period whose predecessor had another status).
The programme's quarterly white paper is built from this; `xch report digest` prints it as a table,
Markdown (a CI job summary) or HTML (rendered by the site's templates).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from sqlalchemy import Connection, and_, select
from sqlalchemy.orm import aliased

from harness.core.errors import InputError
from harness.whitelist import platforms as plat
from harness.whitelist.schema import certificates, entries, platforms, product_versions, products, vendors

DATE = re.compile(r"\d{4}-\d{2}-\d{2}")  # fullmatch


def parse_date(text: str, option: str) -> str:
    """`2026-07-01` -> `2026-07-01T00:00:00Z`; anything else is bad input naming the option."""
    if not DATE.fullmatch(text or ""):
        raise InputError(f"{option} {text!r}: expected a date as YYYY-MM-DD (e.g. 2026-07-01)")
    try:
        time.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise InputError(f"{option} {text!r}: not a calendar date (expected YYYY-MM-DD)") from None
    return text + "T00:00:00Z"


def next_day(stamp: str) -> str:
    t = time.mktime(time.strptime(stamp[:10], "%Y-%m-%d")) + 36 * 3600  # local-time safe: +1.5 days, then floor
    return time.strftime("%Y-%m-%d", time.localtime(t)) + "T00:00:00Z"


def quarter_start(stamp: str) -> str:
    year, month = int(stamp[:4]), int(stamp[5:7])
    return f"{year:04d}-{(month - 1) // 3 * 3 + 1:02d}-01T00:00:00Z"


def _product_columns() -> list[Any]:
    return [products.c.key.label("product_key"), products.c.name.label("product"), product_versions.c.version,
            vendors.c.name.label("vendor"), products.c.category, platforms.c.arch, platforms.c.cpu_vendor,
            platforms.c.cpu_model, platforms.c.os_id, platforms.c.os_name, platforms.c.os_version,
            platforms.c.accelerator, platforms.c.emulation]


def _joined(q: Any, pv_col: Any, platform_col: Any) -> Any:
    return (q.join(product_versions, product_versions.c.id == pv_col)
            .join(products, products.c.id == product_versions.c.product_id)
            .join(vendors, vendors.c.id == products.c.vendor_id)
            .join(platforms, platforms.c.id == platform_col))


def _row(r: Any, **extra: Any) -> dict[str, Any]:
    d = dict(r)
    d["platform"] = plat.describe(d)
    d.update(extra)
    return d


def compute(conn: Connection, since: str, until: str) -> dict[str, Any]:
    """since/until are ISO timestamps; the period is [since, until)."""
    if until <= since:
        raise InputError(f"--until must be after --since (got {since[:10]} .. {until[:10]})")
    c = certificates
    cert_cols = [c.c.cert_no, c.c.status, c.c.level, c.c.issued_at, c.c.expires_at, c.c.revoked_at, c.c.issued_by]
    certified = [_row(r) for r in conn.execute(_joined(select(*cert_cols, *_product_columns()), c.c.product_version_id,
                                                       c.c.platform_id)
                                               .where(c.c.issued_at >= since, c.c.issued_at < until)
                                               .order_by(c.c.issued_at, c.c.cert_no)).mappings()]
    expired = [_row(r) for r in conn.execute(_joined(select(*cert_cols, *_product_columns()), c.c.product_version_id,
                                                     c.c.platform_id)
                                             .where(c.c.expires_at >= since, c.c.expires_at < until,
                                                    c.c.revoked_at.is_(None))
                                             .order_by(c.c.expires_at, c.c.cert_no)).mappings()]
    revoked = [_row(r) for r in conn.execute(_joined(select(*cert_cols, *_product_columns()), c.c.product_version_id,
                                                     c.c.platform_id)
                                             .where(c.c.revoked_at >= since, c.c.revoked_at < until)
                                             .order_by(c.c.revoked_at, c.c.cert_no)).mappings()]
    old = aliased(entries)
    e = entries
    entry_cols = [e.c.id, e.c.status, e.c.level, e.c.kind, e.c.reasons, e.c.created_at, e.c.current]
    new_in_period = (_joined(select(*entry_cols, old.c.status.label("old_status"), *_product_columns()),
                             e.c.product_version_id, e.c.platform_id)
                     .outerjoin(old, and_(old.c.superseded_by_id == e.c.id))
                     .where(e.c.created_at >= since, e.c.created_at < until, e.c.kind.in_(("tested", "external")))
                     .order_by(e.c.created_at, e.c.id))
    failed, changed, seen = [], [], set()
    for r in conn.execute(new_in_period).mappings():
        if r["id"] in seen:
            continue
        seen.add(r["id"])
        row = _row(r, reasons=json.loads(r["reasons"] or "[]"))
        if r["status"] == "incompatible":
            failed.append(row)
        if r["old_status"] is not None and r["old_status"] != r["status"]:
            changed.append(row)
    return {"since": since, "until": until, "certified": certified, "failed": failed, "expired": expired,
            "revoked": revoked, "changed": changed,
            "counts": {"certified": len(certified), "failed": len(failed), "expired": len(expired),
                       "revoked": len(revoked), "changed": len(changed)}}


def to_markdown(digest: dict[str, Any]) -> str:
    """Bilingual Markdown for a CI job summary; cell text has `|` and newlines neutralised."""
    def cell(value: Any) -> str:
        text = str(value if value is not None else "")
        return (text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")
                .replace(">", "&gt;"))

    def table(rows: list[dict[str, Any]], cols: list[tuple[str, str]]) -> list[str]:
        if not rows:
            return ["无 / nothing", ""]
        out = ["| " + " | ".join(h for _, h in cols) + " |", "|" + "---|" * len(cols)]
        out += ["| " + " | ".join(cell(r.get(k)) for k, _ in cols) + " |" for r in rows]
        return out + [""]

    product = [("product", "产品 Product"), ("version", "版本 Version"), ("vendor", "厂商 Vendor"),
               ("platform", "平台 Platform")]
    n = digest["counts"]
    lines = [f"## 期间摘要 / Period digest {digest['since'][:10]} – {digest['until'][:10]}", "",
             f"- 新认证 / certified: **{n['certified']}**", f"- 新增不兼容 / found incompatible: **{n['failed']}**",
             f"- 证书到期 / certificates expired: **{n['expired']}**",
             f"- 证书撤销 / certificates revoked: **{n['revoked']}**",
             f"- 结论变化 / status changed: **{n['changed']}**", "",
             "### 新认证 / Certified", ""]
    lines += table(digest["certified"], [("cert_no", "证书 Certificate")] + product + [("level", "等级 Level"),
                                                                                      ("issued_at", "签发 Issued")])
    lines += ["### 新增不兼容 / Found incompatible", ""]
    lines += table([{**r, "reason": "; ".join(r["reasons"])[:200]} for r in digest["failed"]],
                   product + [("reason", "原因 Reason"), ("created_at", "时间 At")])
    lines += ["### 证书到期 / Certificates expired", ""]
    lines += table(digest["expired"], [("cert_no", "证书 Certificate")] + product + [("expires_at", "到期 Expires")])
    lines += ["### 证书撤销 / Certificates revoked", ""]
    lines += table(digest["revoked"], [("cert_no", "证书 Certificate")] + product + [("revoked_at", "撤销 Revoked")])
    lines += ["### 结论变化 / Status changed", ""]
    lines += table(digest["changed"], product + [("old_status", "原结论 From"), ("status", "新结论 To"),
                                                 ("created_at", "时间 At")])
    return "\n".join(lines)
