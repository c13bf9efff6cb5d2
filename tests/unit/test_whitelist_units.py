"""Whitelist pieces without the lab: policy, verdict rules, run-folder validation, schema, audit, lists.

Database tests run on SQLite and PostgreSQL (see tests/fixtures/whitelist_lib.py). Run folders here
are written by the test in the documented format (the lab-made ones are in tests/integration).
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from whitelist_lib import FIXTURES, POLICY, db_url, make_run, table_counts, wl  # noqa: E402,F401

from harness.core.errors import InputError  # noqa: E402
from harness.whitelist.evaluate import evaluate  # noqa: E402
from harness.whitelist.policy import Policy, load_policy  # noqa: E402
from harness.whitelist.runfolder import read_run_folder  # noqa: E402

LIST = FIXTURES / "whitelist_lists" / "provincial_catalogue.csv"


def rec(check_id: str, outcome: str = "passed", level: str = "mandatory", target: str = "t1", reason: str = "",
        metrics: list | None = None) -> dict:
    return {"check_id": check_id, "outcome": outcome, "level": level, "target": target, "reason": reason,
            "metrics": metrics or []}


# -- policy ------------------------------------------------------------------------------------------

def test_the_shipped_policy_loads():
    policy = load_policy(POLICY)
    assert policy.approvals_required == 2 and policy.validity_years == 3 and policy.stages == ["lab", "pilot", "rollout"]
    assert policy.os_major_of("openEuler", "22.03 LTS SP1") == "22.03" and policy.os_major_of("debian", "12.5") == "12"


def test_a_bad_policy_reports_every_problem(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text('[certification]\napprovals_required = 1\n[reuse]\nstatuses = ["great"]\n'
                    '[reuse.os_major]\nkylin = "(["\n[checks]\nrequired = "COMPAT-1"\n')
    with pytest.raises(InputError) as err:
        load_policy(path)
    text = str(err.value)
    assert str(path) in text and "approvals_required: the two-person rule needs at least 2" in text
    assert "'great' not one of" in text and "[reuse.os_major] kylin" in text and "[checks] required" in text


# -- verdicts ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("records, status, level, reason_part", [
    ([rec("COMPAT-A"), rec("COMPAT-B")], "compatible", "compatible", None),
    ([rec("COMPAT-A"), rec("SEC-1")], "compatible", "validated", None),
    ([rec("COMPAT-A"), rec("SEC-1", "failed", "optional", reason="world-writable /opt")], "conditional", "compatible",
     "SEC-1 failed (optional) on t1: world-writable /opt"),
    ([rec("COMPAT-A"), rec("COMPAT-B", "failed", reason="missing libfoo\ntraceback...")], "incompatible", None,
     "COMPAT-B failed on t1: missing libfoo"),
    ([rec("COMPAT-A", "error", reason="target unreachable")], "pending", None, "ended in error (retest)"),
    ([rec("COMPAT-A", "skipped")], "pending", None, "only 0 mandatory check(s) passed"),
    ([rec("COMPAT-A"), rec("COMPAT-F", "failed", "optional")], "conditional", "compatible", "COMPAT-F failed"),
    ([rec("PERF-1", metrics=[{"name": "tps", "unit": "ops/s", "median": 10, "verdict": "regression",
                               "baseline": {"target": "x86", "ratio": 0.5}}])], "conditional", "compatible",
     "tps regression (median 10 ops/s, ratio 0.5 to x86)"),
    ([rec("COMPAT-A"), rec("SEC-1"), rec("COMPAT-F", "failed", "optional")], "conditional", "compatible", None),
])
def test_verdict_rules(records, status, level, reason_part):
    verdict = evaluate(records, Policy())
    assert (verdict.status, verdict.level) == (status, level)
    if reason_part:
        assert any(reason_part in r for r in verdict.reasons), verdict.reasons


def test_required_checks_and_ignored_prefixes():
    policy = Policy(required=["COMPAT-INSTALL-001"], ignore_prefixes=["SMOKE-"])
    verdict = evaluate([rec("COMPAT-RUN-001"), rec("SMOKE-001", "failed")], policy)
    assert verdict.status == "pending" and "required check COMPAT-INSTALL-001 did not pass (not run)" in verdict.reasons


# -- run folders -------------------------------------------------------------------------------------

def test_a_valid_folder_reads_and_temp_files_are_not_evidence(tmp_path):
    run = make_run(tmp_path / "r1")
    (run / ".run.json.abc.tmp").write_text("half")
    bundle = read_run_folder(run)
    assert set(bundle.manifest) == {"run.json", "results.jsonl", "junit.xml", "product.json"}
    assert len(bundle.digest) == 64 and bundle.records[0]["check_id"] == "COMPAT-INSTALL-001"


def test_every_problem_of_a_bad_folder_is_named(tmp_path):
    run = make_run(tmp_path / "r2", records=[{"target": "ghost", "check_id": "", "level": "must", "outcome": "ok"}],
                   category="games", platforms=[{"arch": "aarch64"}])
    with pytest.raises(InputError) as err:
        read_run_folder(run)
    text = str(err.value)
    for part in ("results.jsonl: line 1: field 'check_id' must be a non-empty string",
                 "target 'ghost' has no facts in run.json", "field 'level' must be mandatory or optional",
                 "field 'outcome' must be one of", "product.json: field 'category' must be one of",
                 "platforms[0]: field 'os' must be a non-empty string", "nothing was imported"):
        assert part in text
    assert read_run_folder.__name__ and str(run) in text


def test_compiling_writes_nothing_when_one_folder_is_bad(tmp_path, db_url):
    good = make_run(tmp_path / "good")
    bad = make_run(tmp_path / "bad")
    (bad / "results.jsonl").write_bytes((bad / "results.jsonl").read_bytes()[:-5])
    wl("upgrade", db=db_url)
    before = table_counts(db_url)
    done = wl("compile", str(good), str(bad), db=db_url)
    assert done.rc == 2 and "results.jsonl: truncated" in done.stderr
    assert table_counts(db_url) == before
    done = wl("compile", str(good), "--json", db=db_url)
    assert done.rc == 0
    tested = wl("query", "--json", "--cpu", "kunpeng", db=db_url).json()[0]
    row = wl("query", "--json", "--product", "kp-db", db=db_url).json()
    assert (tested["os_version"], tested["accelerator"]) == ("22.03 LTS-SP1", "ascend Ascend910B x8")
    covered = [r for r in row if r["kind"] == "covered"]  # declared 22.03 LTS SP3: same OS major (22.03) for openEuler
    assert covered and covered[0]["covered_by"]["entry"] == tested["id"]


# -- schema, migrations, audit log -------------------------------------------------------------------

def test_migrations_produce_exactly_the_schema(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from harness.whitelist import db
    from harness.whitelist.schema import metadata

    database = db.connect(db_url)
    try:
        with database.engine.connect() as conn:
            assert db.current_revision(conn) == db.head_revision() == "0003"
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
        assert diff == []
    finally:
        database.dispose()


def test_the_audit_log_is_append_only_and_chained(db_url):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from harness.whitelist import audit, db

    database = db.connect(db_url)
    try:
        with database.write() as conn:
            audit.record(conn, "alice", "test.one", "thing", 1, {"a": 1})
            audit.record(conn, "bob", "test.two", "thing", 1, {"b": 2})
        for statement in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
            with pytest.raises(DBAPIError, match="append-only"):
                with database.write() as conn:
                    conn.execute(text(statement))
        with database.read() as conn:
            assert audit.verify_chain(conn) == []
            assert [r["actor"] for r in audit.history(conn, "thing")] == ["alice", "bob"]
        if database.dialect == "sqlite":  # an owner who drops the trigger is still caught by the chain
            with database.write() as conn:
                conn.execute(text("DROP TRIGGER audit_log_no_update"))
                conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE id = 1"))
            with database.read() as conn:
                assert audit.verify_chain(conn) == ["audit_log row 1: contents changed after it was written"]
    finally:
        database.dispose()


def test_bad_database_urls_are_clear():
    bad = wl("query", db="mysql://x@y/z")
    assert bad.rc == 2 and "only sqlite and postgresql are supported" in bad.stderr
    down = wl("query", db="postgresql+psycopg://xch:secret-pw@127.0.0.1:1/none")
    assert down.rc == 3 and "cannot connect" in down.stderr and "secret-pw" not in down.stderr


# -- import-list and export --------------------------------------------------------------------------

def test_import_list_loads_external_entries_once(db_url):
    done = wl("import-list", str(LIST), "--by", "clerk", "--json", db=db_url)
    assert done.rc == 0, done.stderr
    assert done.json() == {"file": str(LIST), "rows": 3, "added": 3, "unchanged": 0, "superseded": 0}
    rows = {r["product"]: r for r in wl("query", "--json", db=db_url).json()}
    dm = rows["达梦数据库管理系统"]
    assert (dm["kind"], dm["status"], dm["arch"], dm["category"], dm["certificate"]) == (
        "external", "compatible", "aarch64", "database", "PROV-2024-0012")
    assert dm["os_id"] == "openEuler" and dm["os_version"] == "22.03 LTS SP1" and dm["test_organisation"] == "某省信创适配中心"
    assert rows["东方通应用服务器"]["status"] == "pending" and rows["东方通应用服务器"]["arch"] == "x86_64"
    assert rows["金山办公WPS"]["os_id"] == "uos" and rows["金山办公WPS"]["category"] == "office"
    before = table_counts(db_url)
    again = wl("import-list", str(LIST), "--json", db=db_url)
    assert again.json()["unchanged"] == 3
    assert {k: v for k, v in table_counts(db_url).items() if k != "audit_log"} == {
        k: v for k, v in before.items() if k != "audit_log"}

    exported = wl("export", "--format", "csv", db=db_url)
    parsed = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [p["certificate_id"] for p in parsed if p["product_name"] == "达梦数据库管理系统"] == ["PROV-2024-0012"]
    assert list(parsed[0])[:10] == ["product_name", "product_version", "company_name", "type", "test_organization",
                                    "platform_type_and_server_model", "os_name", "os_version", "certificate_id", "date"]


def test_a_bad_list_is_rejected_by_row_and_column(tmp_path, db_url):
    path = tmp_path / "bad.csv"
    path.write_text("软件名称,软件版本,厂商名称,操作系统版本,结论\nA,1,V,22.03,兼容\nB,,V,22.03,maybe\n", encoding="utf-8")
    done = wl("import-list", str(path), db=db_url)
    assert done.rc == 2
    assert "row 3: column product_version is empty" in done.stderr and "row 3: column status 'maybe'" in done.stderr
    assert "nothing was imported" in done.stderr
    nohead = tmp_path / "nohead.csv"
    nohead.write_text("name,os\nA,x\n", encoding="utf-8")
    done = wl("import-list", str(nohead), db=db_url)
    assert done.rc == 2 and "header lacks column(s) product_version, company_name" in done.stderr
    assert wl("query", "--json", db=db_url).json() == []
