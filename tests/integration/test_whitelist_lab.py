"""The whitelist compiled from real lab runs, on SQLite and PostgreSQL.

The runs are made once per module over SSH on the lab: the smoke suite, and the compat-like suite of
tests/fixtures/whitelist_suites for four products that pass, fail a mandatory check, fail only on
aarch64 (an x86-64 binary) and fail optional/performance criteria. Every test then compiles them
into a fresh database on each backend through the real `xch whitelist` CLI.
"""

from __future__ import annotations

import csv
import io
import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from whitelist_lib import PRODUCTS, PROJECT, SUITE, copy_run, db_url, table_counts, wl, write_product_json, xch_cmd  # noqa: E402,F401

pytestmark = pytest.mark.lab

HOST_ARCH = platform.machine()


@pytest.fixture(scope="module")
def lab_runs(lab_inventory, tmp_path_factory) -> dict[str, Path]:
    """Six real runs, made concurrently (each its own `xch run`); product.json added per the contract."""
    base = tmp_path_factory.mktemp("wl_runs")
    suite = str(SUITE / "compat_like_suite.py")
    plan = {"smoke": ("smoke", "wl-smoke"), "good1": (suite, "wl-good"), "broken": (suite, "wl-broken"),
            "x86only": (suite, "wl-x86only"), "cond": (suite, "wl-cond")}
    runs = {}

    def start(name: str, suite_arg: str, product: str) -> subprocess.Popen:
        runs[name] = base / name
        return subprocess.Popen(xch_cmd("run", "--suite", suite_arg, "--product", str(PRODUCTS / product),
                                        "--inventory", str(lab_inventory), "-n", "2", "--run-dir", str(base / name),
                                        "--json"), cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)

    def finish(name: str, proc: subprocess.Popen, product: str) -> None:
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode in (0, 1), out  # 1: checks failed on purpose
        write_product_json(runs[name], PRODUCTS / product)

    procs = {name: start(name, *spec) for name, spec in plan.items()}
    for name, proc in procs.items():
        finish(name, proc, plan[name][1])
    finish("good2", start("good2", suite, "wl-good"), "wl-good")  # strictly later than good1: the newer run
    return runs


def _compile(db: str, *runs: Path) -> list[dict]:
    done = wl("compile", *map(str, runs), "--json", "--by", "lab-engineer", db=db)
    assert done.rc == 0, done.stdout + done.stderr
    return done.json()


def _query(db: str, *args: str) -> list[dict]:
    done = wl("query", "--json", *args, db=db)
    assert done.rc == 0, done.stderr
    return done.json()


def _by(rows: list[dict], product_id: str, arch: str, os_version: str = "12") -> dict:
    hits = [r for r in rows if r["product_id"] == product_id and r["arch"] == arch and r["os_version"] == os_version
            and r["kind"] in ("tested", "declared", "covered")]
    assert len(hits) == 1, (product_id, arch, os_version, hits)
    return hits[0]


def test_real_runs_compile_into_verdicts_with_reasons(lab_runs, db_url):
    first = _compile(db_url, lab_runs["good2"])  # the newer run first: the older one must not take over
    assert first[0]["imported"] and all(e["current"] for e in first[0]["entries"])
    later = _compile(db_url, *(lab_runs[k] for k in ("smoke", "good1", "broken", "x86only", "cond")))
    good1 = next(r for r in later if r["path"] == str(lab_runs["good1"]))
    assert good1["imported"] and not any(e["current"] for e in good1["entries"]), "an older run became current"

    rows = _query(db_url)
    for row in rows:
        assert set(row) >= {"product", "version", "vendor", "category", "arch", "cpu", "os", "os_version", "status",
                            "level", "stage", "certificate"}

    for arch in ("aarch64", "x86_64"):
        good = _by(rows, "wl-good", arch)
        assert (good["status"], good["level"], good["stage"]) == ("compatible", "validated", "lab")
        assert good["run"] == "good2" and good["evidence"] == str(lab_runs["good2"])
        assert good["vendor"] == "示例软件 Example Soft" and good["version"] == "2.1.0"

        broken = _by(rows, "wl-broken", arch)
        assert broken["status"] == "incompatible" and broken["level"] is None
        assert any("COMPAT-INSTALL-001" in r and "libxch-missing-dep1" in r for r in broken["reasons"]), broken

        cond = _by(rows, "wl-cond", arch)
        assert (cond["status"], cond["level"]) == ("conditional", "compatible")  # SEC-PERM-001 failed: not validated
        text = " | ".join(cond["reasons"])
        assert "COMPAT-FEATURE-002" in text and "SEC-PERM-001" in text and "start_latency regression" in text

        smoke = _by(rows, "wl-smoke", arch)
        assert (smoke["status"], smoke["level"]) == ("compatible", "compatible")  # no security checks ran

    native, foreign = HOST_ARCH, ({"x86_64", "aarch64"} - {HOST_ARCH}).pop()
    assert _by(rows, "wl-x86only", native)["status"] == "compatible"
    wrong = _by(rows, "wl-x86only", foreign)
    assert wrong["status"] == "incompatible"
    assert any("COMPAT-ABI-001" in r and f"built for {native}" in r for r in wrong["reasons"]), wrong

    # declared platforms: 12.5 is covered by the tested Debian 12 result (same arch, OS major); openEuler is pending
    covered = _by(rows, "wl-good", "x86_64", "12.5")
    assert covered["kind"] == "covered" and covered["status"] == "compatible"
    assert covered["covered_by"]["entry"] == _by(rows, "wl-good", "x86_64")["id"]
    assert covered["covered_by"]["evidence"] == str(lab_runs["good2"]) and covered["covered_by"]["run"] == "good2"
    pending = _by(rows, "wl-good", "aarch64", "22.03-LTS-SP1")
    assert pending["status"] == "pending" and "not yet tested" in pending["reasons"][0]

    history = [r for r in _query(db_url, "--all", "--product", "wl-good") if not r["current"] and r["run"] == "good1"]
    assert len(history) == 2 and {h["superseded_by"] for h in history} == {
        _by(rows, "wl-good", a)["id"] for a in ("aarch64", "x86_64")}

    # importing everything again changes nothing at all, audit log included
    before = table_counts(db_url)
    again = _compile(db_url, *lab_runs.values())
    assert not any(r["imported"] for r in again)
    assert table_counts(db_url) == before
    assert _query(db_url) == rows


def test_query_filters_csv_and_exports(lab_runs, db_url, tmp_path):
    _compile(db_url, *lab_runs.values())
    rows = _query(db_url, "--arch", "aarch64", "--status", "incompatible")
    assert {r["product_id"] for r in rows} == {"wl-broken", "wl-x86only"} - ({"wl-x86only"} if HOST_ARCH == "aarch64" else set())
    assert {r["product_id"] for r in _query(db_url, "--vendor", "示例")} == {"wl-good", "wl-cond"}
    assert {r["category"] for r in _query(db_url, "--category", "office")} == {"office"}
    assert _query(db_url, "--cpu", "no-such-cpu") == []
    assert {r["os_id"] for r in _query(db_url, "--os", "Debian", "--product", "gooddb")} == {"debian"}

    done = wl("query", "--csv", "--product", "wl-broken", db=db_url)
    assert done.rc == 0
    parsed = list(csv.DictReader(io.StringIO(done.stdout)))
    assert len(parsed) == 2 and parsed[0]["product_name"] == "BrokenMQ" and parsed[0]["status"] == "incompatible"

    everything = _query(db_url)
    for fmt in ("xlsx", "csv", "json"):
        out = tmp_path / f"list.{fmt}"
        done = wl("export", "--format", fmt, "--out", str(out), db=db_url)
        assert done.rc == 0, done.stderr
        if fmt == "json":
            data = json.loads(out.read_text())
        elif fmt == "csv":
            data = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
        else:
            from openpyxl import load_workbook

            sheet = load_workbook(out).active
            header = [c.value for c in sheet[1]]
            assert header[:10] == ["软件名称 Product", "软件版本 Version", "厂商 Vendor", "类别 Category",
                                   "测试机构 Test organisation", "CPU/服务器平台 CPU/server platform", "操作系统 OS",
                                   "操作系统版本 OS version", "证书编号 Certificate id", "日期 Date"]
            data = [dict(zip(["product_name", "product_version"], [c.value for c in row][:2], strict=True))
                    for row in sheet.iter_rows(min_row=2)]
        assert len(data) == len(everything)
        assert {(d["product_name"], d["product_version"]) for d in data} == {(r["product"], r["version"]) for r in everything}
    data = json.loads((tmp_path / "list.json").read_text())
    good = next(d for d in data if d["product_name"] == "GoodDB" and d["arch"] == "aarch64" and d["os_version"] == "12")
    assert good["test_organization"].startswith("xch") and good["status"] == "compatible" and good["level"] == "validated"
    assert good["platform_type_and_server_model"].startswith("aarch64 ") and good["date"][:2] == "20"


def _mangle(src: Path, dst: Path, how: str) -> Path:
    run = copy_run(src, dst)
    if how == "truncated":
        data = (run / "results.jsonl").read_bytes()
        (run / "results.jsonl").write_bytes(data[: len(data) - 40])
    elif how == "no-junit":
        (run / "junit.xml").unlink()
    elif how == "bad-category":
        product = json.loads((run / "product.json").read_text())
        product["category"] = "spreadsheet"
        (run / "product.json").write_text(json.dumps(product))
    elif how == "running":
        info = json.loads((run / "run.json").read_text())
        info["status"] = "running"
        (run / "run.json").write_text(json.dumps(info))
    elif how == "bad-outcome":
        lines = (run / "results.jsonl").read_text().splitlines()
        record = json.loads(lines[1])
        record["outcome"] = "maybe"
        lines[1] = json.dumps(record)
        (run / "results.jsonl").write_text("\n".join(lines) + "\n")
    elif how == "torn-json":
        (run / "run.json").write_text((run / "run.json").read_text()[:100])
    return run


@pytest.mark.parametrize("how, expected", [
    ("truncated", "results.jsonl: truncated"),
    ("no-junit", "junit.xml: missing"),
    ("bad-category", "product.json: field 'category' must be one of"),
    ("running", "run.json: status is 'running'"),
    ("bad-outcome", "results.jsonl: line 2: field 'outcome' must be one of"),
    ("torn-json", "run.json: not valid JSON"),
])
def test_a_malformed_run_folder_is_rejected_and_nothing_is_imported(lab_runs, db_url, tmp_path, how, expected):
    bad = _mangle(lab_runs["good1"], tmp_path / f"bad-{how}", how)
    wl("upgrade", db=db_url)
    before = table_counts(db_url)
    done = wl("compile", str(lab_runs["broken"]), str(bad), db=db_url)  # one good folder with the bad one
    assert done.rc == 2, done.stdout + done.stderr
    assert expected in done.stderr and str(bad) in done.stderr and "nothing was imported" in done.stderr
    assert table_counts(db_url) == before  # not even the good folder


def test_certification_two_person_rule_verify_and_promotion(lab_runs, db_url, tmp_path):
    evidence = copy_run(lab_runs["good2"], tmp_path / "good2-evidence")
    _compile(db_url, evidence)
    assert wl("submit", "--product", "wl-good", "--version", "2.1.0", "--by", "vendor-li", db=db_url).rc == 0
    assert wl("review", "1", "--by", "lab-wang", db=db_url).rc == 2  # must be testing first
    assert wl("testing", "1", "--by", "lab-wang", db=db_url).rc == 0
    assert wl("review", "1", "--by", "lab-wang", db=db_url).rc == 0
    own = wl("approve", "1", "--by", "vendor-li", db=db_url)
    assert own.rc == 2 and "two-person rule" in own.stderr  # the submitter cannot review
    assert wl("approve", "1", "--by", "reviewer-zhang", db=db_url).rc == 0
    twice = wl("approve", "1", "--by", "reviewer-zhang", db=db_url)
    assert twice.rc == 2 and "two-person rule" in twice.stderr and "different reviewer" in twice.stderr
    single = wl("certificate", "issue", "1", "--by", "reviewer-zhang", db=db_url)
    assert single.rc == 2 and "2 different reviewers, it has 1 (reviewer-zhang)" in single.stderr
    assert not wl("certificate", "list", "--json", db=db_url).json()
    assert wl("approve", "1", "--by", "reviewer-zhao", db=db_url).rc == 0
    done = wl("certificate", "issue", "1", "--by", "reviewer-zhao", "--json", db=db_url)
    assert done.rc == 0, done.stderr
    certs = done.json()
    assert len(certs) == 3  # aarch64, x86_64 tested and the covered declared x86_64 Debian 12.5
    for cert in certs:
        assert cert["certificate"].startswith("XCH-CERT-")
        assert int(cert["expires_at"][:4]) - int(cert["issued_at"][:4]) == 3
        assert cert["expires_at"][4:] == cert["issued_at"][4:] or cert["issued_at"][5:10] == "02-29"
    import hashlib

    from harness.whitelist.runfolder import canonical
    manifest = {str(p): hashlib.new("sm3", p.read_bytes()).hexdigest() for p in sorted(evidence.rglob("*")) if p.is_file()}
    assert certs[0]["evidence_sm3"] == hashlib.new("sm3", canonical(manifest).encode()).hexdigest()

    rows = _query(db_url, "--product", "wl-good")
    tested = _by(rows, "wl-good", "x86_64")
    assert tested["certificate"] in {c["certificate"] for c in certs} and tested["certificate_valid"]
    subs = wl("submissions", "--json", db=db_url).json()
    assert subs[0]["state"] == "certified" and subs[0]["approvers"] == ["reviewer-zhang", "reviewer-zhao"]
    log = wl("audit", "--json", "--type", "submission", db=db_url).json()
    assert [(e["action"], e["actor"]) for e in log] == [
        ("submission.submitted", "vendor-li"), ("submission.testing", "lab-wang"), ("submission.review", "lab-wang"),
        ("submission.approve", "reviewer-zhang"), ("submission.approve", "reviewer-zhao"),
        ("submission.certified", "reviewer-zhao")]
    assert all(e["at"].endswith("Z") for e in log)

    assert wl("promote", str(tested["id"]), "--by", "manager-chen", db=db_url).rc == 0
    skip = wl("promote", str(_by(rows, "wl-good", "aarch64")["id"]), "--to", "rollout", "--by", "m", db=db_url)
    assert skip.rc == 2 and "one at a time" in skip.stderr
    assert wl("promote", str(tested["id"]), "--by", "manager-chen", db=db_url).rc == 0
    assert _by(_query(db_url, "--stage", "rollout"), "wl-good", "x86_64")["id"] == tested["id"]

    assert wl("verify", db=db_url).rc == 0
    results = evidence / "results.jsonl"
    results.write_text(results.read_text().replace('"outcome":"failed"', '"outcome":"passed"').replace(
        '"reason":"', '"reason":"edited ', 1))
    report = wl("verify", "--json", db=db_url)
    assert report.rc == 1
    altered = report.json()["problems"]
    assert {p["file"] for p in altered} == {str(results)} and all("altered after certification" in p["problem"]
                                                                  for p in altered)
    (evidence / "junit.xml").unlink()
    assert any("missing" in p["problem"] for p in wl("verify", "--json", db=db_url).json()["problems"])


def test_two_compiles_at_the_same_time_leave_a_consistent_database(lab_runs, db_url):
    """Two real processes on a fresh database: both migrate, overlap, and share the `broken` run."""
    sets = [[lab_runs[k] for k in ("good1", "broken", "x86only")], [lab_runs[k] for k in ("good2", "broken", "cond")]]
    procs = [subprocess.Popen(xch_cmd("whitelist", "compile", *map(str, s), "--db", db_url, "--json"), cwd=PROJECT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for s in sets]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    imported = [r["path"] for out, _ in outputs for r in json.loads(out) if r["imported"]]
    assert sorted(imported) == sorted(str(lab_runs[k]) for k in ("good1", "good2", "broken", "x86only", "cond"))
    counts = table_counts(db_url)
    assert counts["runs"] == 5

    rows = _query(db_url, "--all")
    current = [(r["product_id"], r["arch"], r["os_version"]) for r in rows if r["current"]]
    assert len(current) == len(set(current)), "two current entries for one product version x platform"
    for arch in ("aarch64", "x86_64"):
        assert _by([r for r in rows if r["current"]], "wl-good", arch)["run"] == "good2"
    assert wl("verify", "--runs", db=db_url).rc == 0  # evidence intact and the audit chain has no fork


def test_a_platform_variant_is_covered_by_the_tested_result(lab_runs, db_url, tmp_path):
    """Result reuse across platforms of one CPU family and OS major version.

    The lab cannot produce a second x86 platform (its targets share the host's kernel), so this copies the
    real smoke run and changes the x86 target's kernel and the run id: the platform variant a lab would see
    after a kernel update. wl-good never ran there; its Debian 12 x86 result covers it, with the evidence link.
    """
    variant = copy_run(lab_runs["smoke"], tmp_path / "smoke-newkernel")
    info = json.loads((variant / "run.json").read_text())
    info["run_id"] = "smoke-newkernel"
    info["facts"]["lab-x86"]["kernel"] = "6.1.0-99-amd64"
    (variant / "run.json").write_text(json.dumps(info))
    _compile(db_url, lab_runs["good2"], variant)
    rows = [r for r in _query(db_url, "--product", "wl-good", "--arch", "x86_64") if r["kernel"] == "6.1.0-99-amd64"]
    assert len(rows) == 1 and rows[0]["kind"] == "covered" and rows[0]["status"] == "compatible"
    source = rows[0]["covered_by"]
    assert source["run"] == "good2" and source["evidence"] == str(lab_runs["good2"]) and "x86_64" in source["platform"]
    human = wl("query", "--product", "wl-good", db=db_url)
    assert f"#{source['entry']}" in human.stdout


def test_an_old_schema_database_upgrades_in_place(lab_runs, db_url):
    """A database made by the 0.1 schema (revision 0001) with its data, upgraded by the current xch."""
    from sqlalchemy import text

    from harness.whitelist import db

    old = db.connect(db_url, upgrade_schema=False)
    db.upgrade(old, "0001")
    with old.write() as conn:
        t = "2025-01-02T03:04:05Z"
        conn.execute(text("INSERT INTO vendors (name, created_at) VALUES ('Old Vendor', :t)"), {"t": t})
        conn.execute(text("INSERT INTO products (key, vendor_id, name, category, created_at) "
                          "VALUES ('old-app', 1, 'OldApp', 'application', :t)"), {"t": t})
        conn.execute(text("INSERT INTO product_versions (product_id, version, created_at) VALUES (1, '1.0', :t)"), {"t": t})
        conn.execute(text("INSERT INTO platforms (fingerprint, arch, os_id, os_version, declared_only) "
                          "VALUES ('f1', 'aarch64', 'openEuler', '22.03 LTS SP1', false)"))
        conn.execute(text("INSERT INTO runs (run_uid, digest, manifest, started_at, ended_at, imported_at, source_path, "
                          "product_version_id) VALUES ('old-run', 'd1', '{}', :t, :t, :t, '/gone', 1)"), {"t": t})
        conn.execute(text("INSERT INTO entries (product_version_id, platform_id, kind, status, run_id, current, "
                          "created_at) VALUES (1, 1, 'tested', 'conditional', 1, true, :t)"), {"t": t})
        assert db.current_revision(conn) == "0001"
    old.dispose()

    done = wl("upgrade", "--json", db=db_url)
    assert done.rc == 0, done.stderr
    assert (done.json()["from"], done.json()["to"]) == ("0001", db.head_revision())
    row = _by(_query(db_url), "old-app", "aarch64", "22.03 LTS SP1")
    assert (row["status"], row["level"], row["stage"], row["covered_by"]) == ("conditional", "compatible", "lab", None)
    _compile(db_url, lab_runs["good2"])  # the upgraded database takes new runs
    assert len(_query(db_url, "--product", "wl-good")) == 4
    again = wl("upgrade", db=db_url)
    assert again.rc == 0 and "already at" in again.stdout
