#!/usr/bin/env python3
"""Compile a synthetic history of one million check records into the whitelist; SQLite and PostgreSQL.

The history is written as real run folders (run.json, results.jsonl, junit.xml via harness.runs,
facts/, product.json) so the whole path is measured: reading and validating, SM3 of every file,
inserting runs, targets, check results and metrics, verdicts, supersession, result reuse and the
audit log. Default: 1000 runs x 4 targets x 250 checks = 1,000,000 records, 200 products whose
later versions and re-runs supersede earlier ones, eight xinchuang platforms (Kunpeng, Phytium,
Hygon, Zhaoxin, Loongson; openEuler, Kylin, UOS), about 5% of records carrying a metric.

Each backend is compiled in its own child process; the child reports its wall time and its peak
resident memory (ru_maxrss), then the same history is compiled again (a no-op: every run is already
there), queried once and verified once (audit chain, seal, certificates, runs, entries). Nothing here
asserts a figure.

    .venv/bin/python benchmarks/whitelist_compile.py [--runs 1000] [--targets 4] [--checks 250]
        [--pg URL | $XCH_BENCH_PG_URL | $XCH_TEST_PG_URL] [--keep DIR] [--json]

The PostgreSQL URL's role needs CREATEDB: a scratch database is created and dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PLATFORMS = [
    ("aarch64", "HiSilicon", "kunpeng-920", "Kunpeng 920", "openEuler", "openEuler", "22.03", "LTS-SP1", "5.10.0-136"),
    ("aarch64", "HiSilicon", "kunpeng-920", "Kunpeng 920", "openEuler", "openEuler", "22.03", "LTS-SP3", "5.10.0-182"),
    ("aarch64", "Phytium", "phytium-ftc662", "FT-2000+/64", "kylin", "Kylin Linux Advanced Server", "V10", "SP3",
     "4.19.90-52"),
    ("aarch64", "Phytium", "phytium-ftc862", "S2500", "uos", "UOS Server", "20", "1060e", "4.19.90-2305"),
    ("x86_64", "Hygon", "hygon-dhyana", "Hygon C86 7285", "kylin", "Kylin Linux Advanced Server", "V10", "SP3",
     "4.19.90-52"),
    ("x86_64", "Zhaoxin", "zhaoxin-lujiazui", "KX-U6780A", "uos", "UOS Desktop", "20", "1070", "5.10.0-46"),
    ("loongarch64", "Loongson", "loongson-3a5000", "Loongson-3A5000", "kylin", "Kylin Linux Advanced Server", "V10",
     "SP1", "4.19.190-7"),
    ("x86_64", "Intel", "x86_64-intel", "Xeon Gold 6248", "openEuler", "openEuler", "22.03", "LTS-SP1", "5.10.0-136"),
]
CATEGORIES = ["database", "middleware", "office", "application", "tool"]


def _facts(p: tuple) -> dict:
    arch, vendor, family, model, os_id, os_name, version, sp, kernel = p
    return {"arch": arch, "cpu_vendor": vendor, "cpu_family": family, "cpu_model": model, "os_id": os_id,
            "os_name": os_name, "os_version": version, "os_sp": sp, "kernel": kernel, "glibc": "2.34",
            "accelerators": [], "emulation": "", "cores": 64, "mem_total_mb": 262144}


def generate(root: Path, runs: int, targets: int, checks: int, seed: int = 7) -> int:
    """Write the synthetic run folders; returns the number of check records."""
    from harness import runs as runlib

    rnd = random.Random(seed)
    total = 0
    for i in range(runs):
        product = i % 200
        version = f"{1 + (i // 200) % 3}.0"  # later runs: new versions and re-runs that supersede
        run_id = f"bench-{i:05d}"
        run_dir = root / run_id
        (run_dir / "facts").mkdir(parents=True)
        chosen = rnd.sample(PLATFORMS, targets) if targets <= len(PLATFORMS) else PLATFORMS
        names = [f"t{j}-{c[2]}" for j, c in enumerate(chosen)]
        facts = {n: _facts(p) for n, p in zip(names, chosen, strict=True)}
        for n, f in facts.items():
            (run_dir / "facts" / f"{n}.json").write_text(json.dumps(f))
        bad_product = product % 17 == 0
        records = []
        started = f"2026-{1 + i // 100 % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00Z"
        for n in names:
            for c in range(checks):
                check = ("SEC-" if c % 25 == 0 else "PERF-" if c % 20 == 1 else "COMPAT-") + f"{c:04d}"
                level = "optional" if c % 10 == 9 else "mandatory"
                outcome = "passed"
                if bad_product and c == 3:
                    outcome = "failed"
                elif rnd.random() < 0.01:
                    outcome = rnd.choice(["skipped", "error"]) if level == "optional" else "skipped"
                record = {"run_id": run_id, "target": n, "check_id": check, "level": level, "outcome": outcome,
                          "reason": "synthetic failure: missing libfoo.so.1" if outcome == "failed" else "",
                          "duration_s": round(rnd.random(), 3), "started_at": started,
                          "test_id": f"suites/compat/test_x.py::test_{c}[{n}]", "worker": "gw0",
                          "evidence": {"rc": 0, "stdout": "ok"}, "metrics": []}
                if check.startswith("PERF-"):
                    samples = [round(rnd.gauss(100, 5), 2) for _ in range(5)]
                    record["metrics"] = [{"name": f"tps_{c}", "unit": "ops/s", "direction": "higher",
                                          "samples": samples, "median": sorted(samples)[2], "iqr": 3.1, "cv": 0.05,
                                          "baseline": None, "verdict": "ok" if rnd.random() > 0.02 else "regression"}]
                records.append(record)
        (run_dir / "results.jsonl").write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))
        runlib.write_junit(run_dir, records)
        (run_dir / "run.json").write_text(json.dumps({
            "run_id": run_id, "started_at": started, "ended_at": started, "status": "finished",
            "args": {"suite": "compat"}, "versions": {"xch": "0.1.0", "controller": "bench"}, "facts": facts}))
        (run_dir / "product.json").write_text(json.dumps({
            "id": f"prod-{product:03d}", "vendor": f"Vendor {product % 40:02d}", "name": f"Product {product:03d}",
            "version": version, "category": CATEGORIES[product % len(CATEGORIES)], "contact": "",
            "platforms": [{"arch": "aarch64", "os": "openEuler", "os_version": "22.03 LTS SP4"}], "artifacts": []}))
        total += len(records)
    return total


def worker(url: str, root: Path) -> None:
    """Child process: compile, re-compile (no-op), query; print figures as JSON."""
    from harness.whitelist import db
    from harness.whitelist.compile import compile_runs
    from harness.whitelist.policy import load_policy
    from harness.whitelist.query import entry_rows
    from harness.whitelist.verify import load_anchor, verify

    policy = load_policy(Path(__file__).resolve().parents[1] / "whitelist" / "policy.toml")
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    database = db.connect(url)
    t0 = time.perf_counter()
    results = compile_runs(database, folders, policy, "bench", lab="bench")
    t1 = time.perf_counter()
    again = compile_runs(database, folders, policy, "bench", lab="bench")
    t2 = time.perf_counter()
    with database.read() as conn:
        rows = entry_rows(conn)
    t3 = time.perf_counter()
    anchor = load_anchor(database.sealer.key_path)
    with database.read() as conn:
        checked = verify(conn, anchor)
    t4 = time.perf_counter()
    database.dispose()
    print(json.dumps({"compile_s": round(t1 - t0, 1), "recompile_noop_s": round(t2 - t1, 1),
                      "query_s": round(t3 - t2, 2), "verify_s": round(t4 - t3, 2), "verify_ok": checked["ok"],
                      "audit_rows": checked["audit"]["rows"], "imported": sum(r.imported for r in results),
                      "reimported": sum(r.imported for r in again), "entries": len(rows),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


def _pg_scratch(admin: str) -> tuple[str, object]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(admin)
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"xch_bench_{secrets.token_hex(4)}"
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--targets", type=int, default=4)
    parser.add_argument("--checks", type=int, default=250, help="checks per target per run")
    parser.add_argument("--pg", default=os.environ.get("XCH_BENCH_PG_URL") or os.environ.get("XCH_TEST_PG_URL"))
    parser.add_argument("--keep", metavar="DIR", help="write the history here and keep it")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", nargs=2, metavar=("URL", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], Path(args.worker[1]))
        return 0

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="xch-wl-bench-"))
    scratch = Path(tempfile.mkdtemp(prefix="xch-wl-bench-db-"))
    try:
        t0 = time.perf_counter()
        if not any(root.iterdir()) if root.exists() else True:
            root.mkdir(parents=True, exist_ok=True)
            records = generate(root, args.runs, args.targets, args.checks)
        else:
            records = sum(1 for p in root.glob("*/results.jsonl") for _ in p.open())
        size_mb = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 2**20
        report = {"runs": args.runs, "records": records, "history_mb": round(size_mb), "generate_s":
                  round(time.perf_counter() - t0, 1), "backends": {}}
        print(f"history: {records:,} check records in {args.runs} run folders ({size_mb:.0f} MB), "
              f"written in {report['generate_s']} s", file=sys.stderr)
        backends = [("sqlite", f"sqlite:///{scratch / 'bench.db'}", None)]
        if args.pg:
            url, drop = _pg_scratch(args.pg)
            backends.append(("postgresql", url, drop))
        else:
            print("postgresql: skipped (no --pg URL, $XCH_BENCH_PG_URL or $XCH_TEST_PG_URL)", file=sys.stderr)
        for name, url, drop in backends:
            try:
                env = {"XCH_AUDIT_KEY_DIR": str(scratch), **os.environ}  # the scratch database's key goes with it
                proc = subprocess.run([sys.executable, __file__, "--worker", url, str(root)], capture_output=True,
                                      text=True, env=env)
                if proc.returncode:
                    raise SystemExit(f"{name}: worker failed:\n{proc.stderr}")
                figures = json.loads(proc.stdout.strip().splitlines()[-1])
                report["backends"][name] = figures
                print(f"{name:<11} compile {figures['compile_s']:>7} s ({records / figures['compile_s']:,.0f} records/s)"
                      f"  peak RSS {figures['peak_rss_mb']} MB  |  re-compile (no-op) {figures['recompile_noop_s']} s"
                      f"  |  query of {figures['entries']:,} entries {figures['query_s']} s"
                      f"  |  verify of {figures['audit_rows']:,} audit rows {figures['verify_s']} s", file=sys.stderr)
            finally:
                if drop:
                    drop()
        if args.json:
            print(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
