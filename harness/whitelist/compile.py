"""Compiling run folders into the whitelist: import, verdicts, supersession, result reuse.

Each run is imported in one write transaction (see db.Database.write): either all of its rows and
derived entries are there afterwards, or none. The run's identity is the SM3 digest of its files, so
importing the same folder again is a no-op. A verdict is made per product version x platform; the
entry of the newest run (by end time) is the *current* one and older entries stay as history with
`superseded_by_id` pointing forward, whatever order the runs are imported in. After every import the
derived entries of the product version are recomputed and only the differences written: platforms
"covered by" a tested one (reuse policy) and declared platforms still pending.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select, update

from harness.core.errors import InputError
from harness.whitelist import audit
from harness.whitelist import platforms as plat
from harness.whitelist.db import Database
from harness.whitelist.evaluate import Verdict, evaluate
from harness.whitelist.policy import Policy
from harness.whitelist.runfolder import PRODUCT_JSON, RunBundle, canonical, read_run_folder, snapshot
from harness.whitelist.schema import (
    check_results,
    declared_platforms,
    entries,
    metrics,
    platforms,
    product_versions,
    products,
    run_targets,
    runs,
    vendors,
)


@dataclass
class ImportResult:
    path: str
    run_uid: str
    digest: str
    imported: bool
    message: str
    entries: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "run_id": self.run_uid, "digest": self.digest, "imported": self.imported,
                "message": self.message, "entries": self.entries}


def compile_runs(db: Database, paths: list[Path], policy: Policy, actor: str, lab: str | None = None) -> list[ImportResult]:
    """Validate every folder first (any bad one: nothing is imported), then import each in its own transaction.

    The first pass hashes each folder and skips those already imported (same SM3 digest), validating
    the rest and keeping only digest and end time, so memory stays at one run's records however long
    the history; the second pass reads each new folder again and refuses it if its files changed in
    between (the digest is over the bytes actually imported).
    """
    imported = _imported_digests(db)
    checked, done, problems = [], {}, []
    for path in paths:
        try:
            resolved, files, digest = snapshot(Path(path))
            if digest in imported:  # same bytes as an imported run: valid then, nothing to do now
                try:
                    done[resolved] = (digest, str(json.loads(files["run.json"])["run_id"]))
                except (KeyError, ValueError, TypeError):
                    done[resolved] = (digest, resolved.name)
                continue
            bundle = read_run_folder(resolved, files)
            checked.append((bundle.ended_at, bundle.started_at, bundle.run_uid, bundle.path, bundle.digest))
        except InputError as exc:
            problems.append(exc.message)
    if problems:
        raise InputError("\n".join(problems))
    lab = lab or policy.lab or socket.gethostname()
    results = [ImportResult(str(p), uid, d, False, "already imported (identical files): nothing changed")
               for p, (d, uid) in done.items()]
    for *_, path, digest in sorted(checked):
        bundle = read_run_folder(path)
        if bundle.digest != digest:
            raise InputError(f"{path}: files changed while compiling (SM3 {bundle.digest} != {digest}); "
                             "the folders before it were compiled, this one and later ones were not")
        with db.write() as conn:
            results.append(import_bundle(conn, bundle, policy, actor, lab))
    return results


def _imported_digests(db: Database) -> set[str]:
    with db.read() as conn:
        return set(conn.execute(select(runs.c.digest)).scalars())


# -- small helpers ------------------------------------------------------------------------------

def _get_or_create(conn: Connection, table: Any, match: dict[str, Any], values: dict[str, Any]) -> tuple[int, bool]:
    """Callers hold the write lock, so select-then-insert cannot race another writer."""
    found = conn.execute(select(table.c.id).where(*[table.c[k] == v for k, v in match.items()])).scalar()
    if found is not None:
        return found, False
    return conn.execute(insert(table).values(**match, **values)).inserted_primary_key[0], True


def platform_id(conn: Connection, row: dict[str, Any]) -> tuple[int, bool]:
    values = {k: v for k, v in row.items() if k != "fingerprint"}
    return _get_or_create(conn, platforms, {"fingerprint": row["fingerprint"]}, values)


def _run_order(conn: Connection, run_id: int | None) -> tuple:
    if run_id is None:
        return ("",)
    row = conn.execute(select(runs.c.ended_at, runs.c.started_at, runs.c.id).where(runs.c.id == run_id)).one()
    return tuple(row)


def _replace_current(conn: Connection, old: Any, new_values: dict[str, Any]) -> int:
    """Insert an entry as the current one for its product version x platform, retiring `old` into history."""
    new_id = conn.execute(insert(entries).values(**new_values, current=False)).inserted_primary_key[0]
    if old is not None:
        conn.execute(update(entries).where(entries.c.id == old["id"]).values(current=False, superseded_by_id=new_id))
    conn.execute(update(entries).where(entries.c.id == new_id).values(current=True))
    return new_id


def current_entry(conn: Connection, pv_id: int, platform: int) -> Any:
    return conn.execute(select(entries).where(entries.c.product_version_id == pv_id, entries.c.platform_id == platform,
                                              entries.c.current)).mappings().first()


# -- importing one run --------------------------------------------------------------------------

def _product_version(conn: Connection, bundle: RunBundle, actor: str, t: str) -> int:
    prod = bundle.product
    vendor_id, _ = _get_or_create(conn, vendors, {"name": prod["vendor"]}, {"created_at": t})
    row = conn.execute(select(products).where(products.c.key == prod["id"])).mappings().first()
    if row is None:
        product_id = conn.execute(insert(products).values(key=prod["id"], vendor_id=vendor_id, name=prod["name"],
                                                          category=prod["category"], created_at=t)).inserted_primary_key[0]
        audit.record(conn, actor, "product.create", "product", prod["id"],
                     {"vendor": prod["vendor"], "name": prod["name"], "category": prod["category"]})
    else:
        product_id = row["id"]
        if row["vendor_id"] != vendor_id:
            registered = conn.execute(select(vendors.c.name).where(vendors.c.id == row["vendor_id"])).scalar()
            raise InputError(f"{bundle.path / PRODUCT_JSON}: field 'vendor': product id {prod['id']!r} belongs to "
                             f"vendor {registered!r} in the whitelist, this run says {prod['vendor']!r}")
        if (row["name"], row["category"]) != (prod["name"], prod["category"]):
            conn.execute(update(products).where(products.c.id == product_id)
                         .values(name=prod["name"], category=prod["category"]))
            audit.record(conn, actor, "product.update", "product", prod["id"],
                         {"name": [row["name"], prod["name"]], "category": [row["category"], prod["category"]]})
    pv_id, _ = _get_or_create(conn, product_versions, {"product_id": product_id, "version": prod["version"]},
                              {"contact": prod.get("contact", ""), "created_at": t})
    for item in prod.get("platforms", []):
        _get_or_create(conn, declared_platforms, {"product_version_id": pv_id, "arch": item["arch"],
                                                  "os_id": item["os"], "os_version": item["os_version"]}, {})
    return pv_id


def _insert_checks(conn: Connection, run_id: int, target_ids: dict[str, int], records: list[dict[str, Any]]) -> None:
    rows = [{"run_id": run_id, "run_target_id": target_ids[r["target"]], "check_id": r["check_id"],
             "test_id": r.get("test_id") or "", "level": r["level"], "outcome": r["outcome"],
             "reason": r.get("reason") or "", "duration_s": r.get("duration_s") if isinstance(
                 r.get("duration_s"), (int, float)) else None, "started_at": str(r.get("started_at") or ""),
             "evidence": canonical(r.get("evidence") or {})} for r in records]
    if not rows:
        return
    conn.execute(insert(check_results), rows)  # plain executemany: batched on both backends
    with_metrics = [i for i, r in enumerate(records) if r.get("metrics")]
    if not with_metrics:
        return
    # Ids by (target, test, check), unique per run (latest record per target and test): one query, not
    # RETURNING, which SQLite would answer one row per statement.
    ids = {(rt, test, check): cid for cid, rt, test, check in conn.execute(
        select(check_results.c.id, check_results.c.run_target_id, check_results.c.test_id, check_results.c.check_id)
        .where(check_results.c.run_id == run_id))}
    metric_rows = []
    for i in with_metrics:
        row = rows[i]
        check_result_id = ids[(row["run_target_id"], row["test_id"], row["check_id"])]
        for m in records[i]["metrics"]:
            def num(key: str, m: dict[str, Any] = m) -> float | None:
                value = m.get(key)
                return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
            metric_rows.append({"check_result_id": check_result_id, "run_id": run_id, "name": m["name"],
                                "unit": str(m.get("unit") or ""), "direction": str(m.get("direction") or ""),
                                "median": num("median"), "iqr": num("iqr"), "cv": num("cv"),
                                "samples": canonical(m.get("samples") or []), "baseline": canonical(m.get("baseline")),
                                "verdict": str(m.get("verdict") or "")})
    conn.execute(insert(metrics), metric_rows)


def import_bundle(conn: Connection, bundle: RunBundle, policy: Policy, actor: str, lab: str) -> ImportResult:
    result = ImportResult(str(bundle.path), bundle.run_uid, bundle.digest, False, "")
    existing = conn.execute(select(runs.c.id).where(runs.c.digest == bundle.digest)).scalar()
    if existing is not None:
        result.message = "already imported (identical files): nothing changed"
        return result
    t = audit.now()
    pv_id = _product_version(conn, bundle, actor, t)
    run_id = conn.execute(insert(runs).values(
        run_uid=bundle.run_uid, digest=bundle.digest, manifest=canonical(bundle.manifest), suite=bundle.suite, lab=lab,
        organisation=policy.organisation, harness_version=bundle.harness_version, controller=bundle.controller,
        started_at=bundle.started_at, ended_at=bundle.ended_at, imported_at=t, imported_by=actor,
        source_path=str(bundle.path), product_version_id=pv_id)).inserted_primary_key[0]

    target_ids: dict[str, int] = {}
    target_platform: dict[str, int] = {}
    new_platforms: list[int] = []
    used = {r["target"] for r in bundle.records}
    for target in sorted(used):
        row = plat.from_facts(bundle.facts[target])
        pid, created = platform_id(conn, row)
        if created:
            new_platforms.append(pid)
        target_platform[target] = pid
        target_ids[target] = conn.execute(insert(run_targets).values(
            run_id=run_id, target=target, platform_id=pid, facts=canonical(bundle.facts[target]))).inserted_primary_key[0]
    _insert_checks(conn, run_id, target_ids, bundle.records)
    audit.record(conn, actor, "run.import", "run", run_id,
                 {"run_id": bundle.run_uid, "digest": bundle.digest, "path": str(bundle.path), "lab": lab,
                  "records": len(bundle.records), "policy_sm3": policy.digest})

    by_platform: dict[int, list[dict[str, Any]]] = {}
    for record in bundle.records:
        by_platform.setdefault(target_platform[record["target"]], []).append(record)
    order = (bundle.ended_at, bundle.started_at, run_id)
    for pid, records in sorted(by_platform.items()):
        verdict = evaluate(records, policy)
        targets = ",".join(sorted({r["target"] for r in records}))
        entry_id, current = _put_tested(conn, pv_id, pid, run_id, order, verdict, targets, policy, actor, t)
        result.entries.append({"entry": entry_id, "targets": targets, "status": verdict.status, "level": verdict.level,
                               "reasons": verdict.reasons, "current": current})
    for pv in sorted({pv_id} | _pvs_sharing_reuse_key(conn, new_platforms, policy)):
        derive(conn, pv, policy, actor, t)
    result.imported = True
    result.message = "imported"
    return result


def _put_tested(conn: Connection, pv_id: int, pid: int, run_id: int, order: tuple, verdict: Verdict, targets: str,
                policy: Policy, actor: str, t: str) -> tuple[int, bool]:
    values = {"product_version_id": pv_id, "platform_id": pid, "kind": "tested", "status": verdict.status,
              "level": verdict.level, "stage": policy.stages[0], "reasons": canonical(verdict.reasons),
              "run_id": run_id, "targets": targets, "test_organisation": policy.organisation, "tested_at": order[0],
              "created_at": t}
    old = current_entry(conn, pv_id, pid)
    if old is not None and old["kind"] == "tested" and _run_order(conn, old["run_id"]) > order:
        # An older run imported late: history only, already superseded by the newer current entry.
        entry_id = conn.execute(insert(entries).values(**values, current=False, superseded_by_id=old["id"])
                                ).inserted_primary_key[0]
        audit.record(conn, actor, "entry.history", "entry", entry_id,
                     {"status": verdict.status, "superseded_by": old["id"], "run": run_id})
        return entry_id, False
    if (old is not None and old["status"] in policy.stage_statuses and verdict.status in policy.stage_statuses
            and old["stage"] in policy.stages):
        values["stage"] = old["stage"]  # a re-test that still passes keeps its rollout stage
    entry_id = _replace_current(conn, old, values)
    audit.record(conn, actor, "entry.supersede" if old is not None else "entry.create", "entry", entry_id,
                 {"status": verdict.status, "level": verdict.level, "run": run_id,
                  "supersedes": old["id"] if old is not None else None, "reasons": verdict.reasons})
    return entry_id, True


# -- derived entries: result reuse ("covered by") and declared-but-untested platforms -------------

def _platform_rows(conn: Connection, ids: list[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    return {r["id"]: dict(r) for r in conn.execute(select(platforms).where(platforms.c.id.in_(ids))).mappings()}


def _pvs_sharing_reuse_key(conn: Connection, new_platforms: list[int], policy: Policy) -> set[int]:
    """Product versions whose tested results may now cover a newly seen platform."""
    if not policy.reuse_enabled or not new_platforms:
        return set()
    new_rows = _platform_rows(conn, new_platforms)
    keys = {plat.reuse_key(row, policy) for row in new_rows.values()}
    arches = {row["arch"] for row in new_rows.values()}
    found = conn.execute(
        select(entries.c.product_version_id, platforms).join(platforms, platforms.c.id == entries.c.platform_id)
        .where(entries.c.current, entries.c.kind == "tested", entries.c.status.in_(policy.reuse_statuses),
               platforms.c.arch.in_(arches))).mappings().all()
    return {r["product_version_id"] for r in found if plat.reuse_key(dict(r), policy) in keys}


def _source_preference(entry: dict[str, Any]) -> tuple:
    return (entry["status"] != "compatible", entry["level"] != "validated", -entry["id"])


DECLARED_KEYS = ["arch", "os_id", "os_major"]


def derive(conn: Connection, pv_id: int, policy: Policy, actor: str, t: str) -> None:
    """Recompute covered and declared-pending entries of one product version; write only what changed."""
    current = [dict(r) for r in conn.execute(select(entries).where(entries.c.product_version_id == pv_id,
                                                                   entries.c.current)).mappings()]
    tested = [e for e in current if e["kind"] == "tested"]
    occupied = {e["platform_id"] for e in current if e["kind"] in ("tested", "external")}
    prow = _platform_rows(conn, [e["platform_id"] for e in tested])
    sources = sorted((e for e in tested if e["status"] in policy.reuse_statuses), key=_source_preference)
    desired: dict[int, dict[str, Any]] = {}

    def covered(src: dict[str, Any]) -> dict[str, Any]:
        return {"kind": "covered", "status": src["status"], "level": src["level"], "reasons": src["reasons"],
                "covered_by_id": src["id"], "run_id": None, "targets": "", "test_organisation": src["test_organisation"],
                "tested_at": src["tested_at"]}

    if policy.reuse_enabled and sources:
        by_key: dict[tuple, dict[str, Any]] = {}
        for src in sources:
            by_key.setdefault(plat.reuse_key(prow[src["platform_id"]], policy), src)
        arches = {prow[s["platform_id"]]["arch"] for s in sources}
        candidates = conn.execute(select(platforms).where(~platforms.c.declared_only, platforms.c.arch.in_(arches))
                                  ).mappings().all()
        for cand in candidates:
            if cand["id"] in occupied:
                continue
            src = by_key.get(plat.reuse_key(dict(cand), policy))
            if src is not None:
                desired[cand["id"]] = covered(src)

    declared = conn.execute(select(declared_platforms).where(declared_platforms.c.product_version_id == pv_id)
                            ).mappings().all()
    for d in declared:
        satisfied = any(prow[e["platform_id"]]["arch"] == d["arch"]
                        and plat.norm(prow[e["platform_id"]]["os_id"]) == plat.norm(d["os_id"])
                        and plat.norm(prow[e["platform_id"]]["os_version"]) == plat.norm(d["os_version"]) for e in tested)
        if satisfied:
            continue
        drow = plat.declared(d["arch"], d["os_id"], d["os_version"])
        pid, _ = platform_id(conn, drow)
        if pid in occupied:
            continue
        src = None
        if policy.reuse_enabled:
            want = plat.reuse_key(drow, policy, DECLARED_KEYS)
            src = next((s for s in sources if plat.reuse_key(prow[s["platform_id"]], policy, DECLARED_KEYS) == want), None)
        desired[pid] = covered(src) if src else {
            "kind": "declared", "status": "pending", "level": None, "covered_by_id": None, "run_id": None, "targets": "",
            "reasons": canonical([f"declared in product.json ({d['arch']} {d['os_id']} {d['os_version']}); not yet tested"]),
            "test_organisation": "", "tested_at": ""}

    existing = {e["platform_id"]: e for e in current if e["kind"] in ("covered", "declared")}
    compare = ("kind", "status", "level", "reasons", "covered_by_id")
    for pid, want in sorted(desired.items()):
        have = existing.pop(pid, None)
        if have is not None and all(have[k] == want[k] for k in compare):
            continue
        values = {**want, "product_version_id": pv_id, "platform_id": pid, "created_at": t,
                  "stage": have["stage"] if have is not None and want["status"] in policy.stage_statuses else policy.stages[0]}
        entry_id = _replace_current(conn, have, values)
        audit.record(conn, actor, f"entry.{want['kind']}", "entry", entry_id,
                     {"status": want["status"], "covered_by": want["covered_by_id"],
                      "supersedes": have["id"] if have is not None else None})
    for have in existing.values():
        conn.execute(update(entries).where(entries.c.id == have["id"]).values(current=False))
        audit.record(conn, actor, "entry.retire", "entry", have["id"], {"reason": "no longer covered or declared"})

