#!/usr/bin/env python3
"""Build the report site for a large whitelist: 5,000 products x 20 platforms (100,000 entries).

The database is written directly with SQLAlchemy Core (the compile path has its own benchmark,
benchmarks/whitelist_compile.py): vendors, products, versions, 20 xinchuang platforms, one run per
product with a check result per platform (failures carry reasons), 100,000 current entries with a
realistic status mix, perf metrics with a baseline for ~5% of products, and certificates for ~10%
of compatible entries. Then `harness.report.build` writes the site (both languages) and this prints:
build time, site size, page count, matrix page size (HTML + data + script) and, when Debian's
chromium and Playwright are installed, how long the matrix takes to show its first page and to
apply a filter in headless Chromium. Nothing here asserts a figure.

    .venv/bin/python benchmarks/report_build.py [--products 5000] [--platforms 20] [--lang both]
        [--keep DIR] [--no-browser] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CPUS = [("aarch64", "HiSilicon", "kunpeng-920", "Kunpeng 920"), ("aarch64", "Phytium", "phytium-ftc662", "FT-2000+/64"),
        ("aarch64", "Phytium", "phytium-ftc862", "S2500"), ("x86_64", "Hygon", "hygon-dhyana", "Hygon C86 7285"),
        ("x86_64", "Zhaoxin", "zhaoxin-lujiazui", "KX-U6780A"),
        ("loongarch64", "Loongson", "loongson-3a5000", "Loongson-3A5000"),
        ("x86_64", "Intel", "x86_64-intel", "Xeon Gold 6248")]
OSES = [("openEuler", "openEuler", "22.03 LTS SP1"), ("openEuler", "openEuler", "22.03 LTS SP3"),
        ("kylin", "Kylin Linux Advanced Server", "V10 SP3"), ("uos", "UOS Server", "20 1060e")]
CATEGORIES = ["database", "middleware", "office", "application", "tool", "driver", "storage", "network"]
REASONS = ["COMPAT-INSTALL-001 failed on {t}: required packages not installed: libssl1.1",
           "COMPAT-ABI-001 failed on {t}: binary built for x86_64, the target is aarch64",
           "COMPAT-FEATURE-002 (optional) failed on {t}: optional feature check exited 1",
           "PERF-START-001: start_latency regression on {t}", "SEC-PERM-001 (optional) failed on {t}: world-writable"]


def make_db(url: str, n_products: int, n_platforms: int, seed: int = 11) -> dict[str, int]:
    from sqlalchemy import insert

    from harness.whitelist import db
    from harness.whitelist import platforms as plat
    from harness.whitelist.runfolder import canonical
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
        submissions,
        vendors,
    )

    rnd = random.Random(seed)
    t0 = "2026-01-05T08:00:00Z"
    database = db.connect(url)
    counts = {}
    with database.write() as conn:
        vendor_rows = [{"id": i + 1, "name": f"厂商 Vendor {i:04d}", "created_at": t0} for i in range(max(1, n_products // 5))]
        conn.execute(insert(vendors), vendor_rows)
        plats = []
        for i in range(n_platforms):
            arch, cpu_vendor, family, model = CPUS[i % len(CPUS)]
            os_id, os_name, os_version = OSES[(i // len(CPUS)) % len(OSES)]
            row = {"arch": arch, "cpu_vendor": cpu_vendor, "cpu_family": family, "cpu_model": model, "os_id": os_id,
                   "os_name": os_name, "os_version": os_version, "kernel": f"5.10.0-{100 + i}", "glibc": "2.34",
                   "accelerator": "", "emulation": "", "declared_only": False}
            row["fingerprint"] = plat.fingerprint(row)
            plats.append({"id": i + 1, **row})
        conn.execute(insert(platforms), plats)
        conn.execute(insert(products), [{"id": i + 1, "key": f"prod-{i:05d}", "vendor_id": 1 + i % len(vendor_rows),
                                         "name": f"产品 Product {i:05d}", "category": CATEGORIES[i % len(CATEGORIES)],
                                         "created_at": t0} for i in range(n_products)])
        conn.execute(insert(product_versions), [{"id": i + 1, "product_id": i + 1, "version": f"{1 + i % 4}.{i % 10}",
                                                 "contact": "qa@example.invalid", "created_at": t0}
                                                for i in range(n_products)])
        run_rows, target_rows, check_rows, entry_rows, metric_rows, cert_rows = [], [], [], [], [], []
        check_id = 0
        target_id = 0
        for i in range(n_products):
            day = 1 + i % 28
            month = 1 + (i // 28) % 11
            ended = f"2026-{month:02d}-{day:02d}T{i % 24:02d}:30:00Z"
            run_rows.append({"id": i + 1, "run_uid": f"bench-{i:05d}", "digest": f"{i:064x}", "manifest": "{}",
                             "suite": "compat", "lab": "bench", "organisation": "xch 适配测试实验室",
                             "harness_version": "0.1.0", "controller": "bench", "started_at": ended,
                             "ended_at": ended, "imported_at": ended, "imported_by": "bench",
                             "source_path": f"/nonexistent/bench-{i:05d}", "product_version_id": i + 1})
            bad_product = i % 13 == 0
            for p in plats:
                target_id += 1
                name = f"t-{p['id']:02d}"
                target_rows.append({"id": target_id, "run_id": i + 1, "target": name, "platform_id": p["id"],
                                    "facts": canonical({"arch": p["arch"], "emulation": ""})})
                roll = rnd.random()
                status = ("incompatible" if bad_product or roll < 0.08 else "conditional" if roll < 0.2
                          else "pending" if roll < 0.25 else "compatible")
                reasons = []
                for k, (cid, level) in enumerate((("COMPAT-INSTALL-001", "mandatory"), ("COMPAT-ABI-001", "mandatory"),
                                                  ("COMPAT-RUN-001", "mandatory"), ("SEC-PERM-001", "optional"))):
                    check_id += 1
                    failed = (status == "incompatible" and k == (i % 2)) or (status == "conditional" and k == 3)
                    reason = REASONS[k if k < 2 else 4].format(t=name) if failed else ""
                    if failed:
                        reasons.append(reason)
                    check_rows.append({"id": check_id, "run_id": i + 1, "run_target_id": target_id, "check_id": cid,
                                       "test_id": f"suites/compat/test_compat.py::t{k}[{name}]", "level": level,
                                       "outcome": "failed" if failed else "passed", "reason": reason,
                                       "duration_s": round(rnd.uniform(0.1, 5), 3), "started_at": ended,
                                       "evidence": "{}"})
                if i % 20 == 0:
                    ratio = rnd.uniform(0.5, 1.3)
                    metric_rows.append({"check_result_id": check_id, "run_id": i + 1, "name": "cpu.single_thread",
                                        "unit": "events/s", "direction": "higher", "median": 1000 * ratio, "iqr": 5,
                                        "cv": 0.02, "samples": "[]", "verdict": "passed",
                                        "baseline": canonical({"target": "x86-baseline", "median": 1000, "ratio": ratio,
                                                               "ci_low": ratio * 0.95, "ci_high": ratio * 1.05,
                                                               "p_value": 0.01, "significant": True})})
                entry_rows.append({"product_version_id": i + 1, "platform_id": p["id"], "kind": "tested",
                                   "status": status, "level": "compatible" if status in ("compatible", "conditional")
                                   else None, "stage": "lab", "reasons": canonical(reasons), "run_id": i + 1,
                                   "targets": name, "covered_by_id": None, "external": "{}",
                                   "test_organisation": "xch 适配测试实验室", "tested_at": ended, "current": True,
                                   "superseded_by_id": None, "created_at": ended})
        conn.execute(insert(runs), run_rows)
        conn.execute(insert(run_targets), target_rows)
        conn.execute(insert(check_results), check_rows)
        conn.execute(insert(metrics), metric_rows)
        conn.execute(insert(entries), entry_rows)
        conn.execute(insert(submissions), [{"id": 1, "product_version_id": 1, "state": "certified",
                                            "submitted_by": "bench", "submitted_at": t0, "updated_at": t0}])
        entry_ids = [(k + 1, e) for k, e in enumerate(entry_rows) if e["status"] == "compatible"]
        for n, (eid, e) in enumerate(entry_ids[:: 10]):
            cert_rows.append({"cert_no": f"XCH-CERT-2026-{n + 1:06d}", "submission_id": 1, "entry_id": eid,
                              "product_version_id": e["product_version_id"], "platform_id": e["platform_id"],
                              "status": "compatible", "level": "compatible", "issued_at": "2023-03-01T00:00:00Z",
                              "expires_at": f"2026-{12 if n % 3 else 11}-{1 + n % 28:02d}T00:00:00Z",
                              "issued_by": "bench", "approvers": '["a","b"]', "evidence_manifest": "{}",
                              "evidence_sm3": f"{n:064x}"})
        conn.execute(insert(certificates), cert_rows)
        counts = {"products": n_products, "platforms": n_platforms, "entries": len(entry_rows),
                  "check_results": len(check_rows), "metrics": len(metric_rows), "certificates": len(cert_rows)}
    database.dispose()
    return counts


def _until(check, timeout: float = 60.0) -> None:
    """Poll from Python (the site's CSP forbids the eval that Playwright's wait_for_function needs)."""
    deadline = time.perf_counter() + timeout
    while not check():
        if time.perf_counter() > deadline:
            raise TimeoutError("the matrix did not update")
        time.sleep(0.005)


def browser_figures(site: Path) -> dict[str, float] | None:
    """Matrix page in headless Chromium: time to the first rows, and to apply a filter and a search."""
    if not Path("/usr/bin/chromium").exists():
        return None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        ctx = p.chromium.launch_persistent_context(profile, executable_path="/usr/bin/chromium", headless=True,
                                                   args=args)
        try:
            page = ctx.new_page()
            start = time.perf_counter()
            page.goto((site / "zh" / "matrix.html").as_uri())
            page.wait_for_selector("#matrix tbody tr[data-product]")
            first = time.perf_counter() - start
            before = page.get_attribute("#m-info", "data-shown")
            start = time.perf_counter()
            page.select_option("#f-status", "incompatible")
            _until(lambda: page.get_attribute("#m-info", "data-shown") != before)
            filtered = time.perf_counter() - start
            start = time.perf_counter()
            page.fill("#f-search", "Product 0042")
            _until(lambda: page.locator("#matrix tbody tr[data-product]").count() <= 10)
            searched = time.perf_counter() - start - 0.12  # minus the search box's debounce
            start = time.perf_counter()
            page.click("#matrix thead th[data-sort='vendor']")
            page.wait_for_selector("#matrix thead th.sorted-asc[data-sort='vendor']")
            sort_s = time.perf_counter() - start
            return {"matrix_first_rows_s": round(first, 3), "filter_s": round(filtered, 3),
                    "search_s": round(max(0.0, searched), 3), "sort_s": round(sort_s, 3)}
        finally:
            ctx.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--products", type=int, default=5000)
    ap.add_argument("--platforms", type=int, default=20)
    ap.add_argument("--lang", default="both", choices=("zh", "en", "both"))
    ap.add_argument("--keep", metavar="DIR", help="keep the database and site here")
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()

    from harness.report import build

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="xch-report-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        db_path = work / "bench.db"
        if db_path.exists():
            db_path.unlink()
        url = f"sqlite:///{db_path}"
        started = time.perf_counter()
        counts = make_db(url, args.products, args.platforms)
        gen_s = time.perf_counter() - started
        langs = ["zh", "en"] if args.lang == "both" else [args.lang]
        started = time.perf_counter()
        result = build(url, work / "site", langs)
        build_s = time.perf_counter() - started
        site = work / "site"
        matrix_html = (site / "zh" / "matrix.html").stat().st_size
        matrix_js = (site / "assets" / "matrix.js").stat().st_size
        figures = {**counts, "langs": langs, "db_generation_s": round(gen_s, 2), "build_s": round(build_s, 2),
                   "pages": result.pages, "site_mb": round(result.bytes / 1e6, 2),
                   "matrix_page_kb": round((matrix_html + matrix_js + result.matrix_bytes) / 1e3, 1),
                   "matrix_data_kb": round(result.matrix_bytes / 1e3, 1), "charts": result.charts,
                   "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
        if not args.no_browser:
            figures["browser"] = browser_figures(site)
        if args.json:
            print(json.dumps(figures, indent=2, ensure_ascii=False))
        else:
            from tabulate import tabulate

            rows = [(k, v) for k, v in figures.items() if k != "browser"]
            rows += [(f"browser.{k}", v) for k, v in (figures.get("browser") or {}).items()]
            print(tabulate(rows, headers=["figure", "value"], tablefmt="simple", disable_numparse=True))
            print(f"\nsite: {site}" if args.keep else "")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
