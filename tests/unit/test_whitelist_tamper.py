"""`whitelist verify` against a tamperer who can write the database and the run folders: each attack done for real.

Every test builds a certified whitelist (a run compiled, submitted, approved by two reviewers,
certified, exported, then promoted) on a real SQLite file and a real PostgreSQL database, keeps the
certificate's JSON and the xlsx export as their holders would, then attacks with plain SQL and file
edits (dropping the append-only triggers first, recomputing hashes with xch's own algorithm) and asks
the real `xch whitelist verify` what it sees. The attacker has no key unless the test says so.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from whitelist_lib import POLICY, db_url, make_run, wl  # noqa: E402,F401

from harness.whitelist import audit, db, workflow  # noqa: E402
from harness.whitelist.compile import compile_runs  # noqa: E402
from harness.whitelist.exchange import write_export  # noqa: E402
from harness.whitelist.policy import load_policy  # noqa: E402
from harness.whitelist.query import entry_rows  # noqa: E402
from harness.whitelist.runfolder import canonical, manifest_digest  # noqa: E402
from harness.whitelist.seal import GENESIS, head_path, key_path_for, load_key  # noqa: E402


def sm3(data: bytes) -> str:
    return hashlib.new("sm3", data).hexdigest()


@dataclass
class Certified:
    url: str
    run: Path
    cert_json: Path  # what the certificate's holder keeps
    export: Path  # an xlsx export sent elsewhere
    key: Path

    def sql(self, *statements: str, params: dict | None = None) -> list:
        engine = create_engine(self.url)
        try:
            with engine.begin() as conn:
                out = [conn.execute(text(s), params or {}) for s in statements]
                return [r.fetchall() if r.returns_rows else None for r in out]
        finally:
            engine.dispose()

    def drop_triggers(self) -> None:
        if self.url.startswith("sqlite"):
            self.sql("DROP TRIGGER IF EXISTS audit_log_no_update", "DROP TRIGGER IF EXISTS audit_log_no_delete")
        else:
            self.sql("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
                     "DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")

    def verify(self, *args: str) -> dict:
        done = wl("verify", "--json", *args, db=self.url)
        assert done.rc in (0, 1), done.stderr
        report = done.json()
        assert (done.rc == 0) == report["ok"]
        return report


def certified(tmp_path: Path, url: str) -> Certified:
    policy = load_policy(POLICY)
    run = make_run(tmp_path / "evidence")
    database = db.connect(url)
    try:
        compile_runs(database, [run], policy, "lab-engineer")
        with database.write() as conn:
            sub = workflow.submit(conn, "kp-db", "1", "vendor-li")
            workflow.start_testing(conn, sub, "lab-wang")
            workflow.to_review(conn, sub, "lab-wang")
            workflow.approve(conn, sub, "reviewer-zhang", policy)
            workflow.approve(conn, sub, "reviewer-zhao", policy)
            certs = workflow.issue_certificates(conn, sub, "reviewer-zhao", policy)
        cert_json = tmp_path / "certificate.json"
        cert_json.write_text(json.dumps(certs))
        with database.read() as conn:
            rows, head = entry_rows(conn), audit.head(conn)
        export, _ = write_export(rows, "xlsx", tmp_path / "list.xlsx", head)
        tested = next(r for r in rows if r["kind"] == "tested")
        with database.write() as conn:  # the log goes on after the export
            workflow.promote(conn, tested["id"], None, "manager-chen", policy)
    finally:
        database.dispose()
    return Certified(url, run, cert_json, export, key_path_for(url))


def problems(report: dict) -> str:
    return "\n".join(p["problem"] for p in report["problems"])


def rewrite_log(case: Certified, edit, key_bytes: bytes | None = None) -> None:
    """Apply `edit(row) -> row` to the audit rows, then recompute every hash (and, holding the key, every
    MAC, the certificates' checkpoints and the head file) as a diligent attacker would."""
    case.drop_triggers()
    engine = create_engine(case.url)
    try:
        with engine.begin() as conn:
            rows = [dict(r) for r in conn.execute(text("SELECT * FROM audit_log ORDER BY id")).mappings()]
            prev, prev_mac, new_hash = GENESIS, GENESIS, {}
            for row in rows:
                row = edit(row) or row
                if key_bytes is not None and row["action"] == "certificate.issue":
                    details = json.loads(row["details"])
                    if details.get("audit_row") in new_hash:
                        details["audit_hash"] = new_hash[details["audit_row"]]
                        row["details"] = canonical(details)
                        conn.execute(text("UPDATE certificates SET audit_hash = :h WHERE cert_no = :n"),
                                     {"h": details["audit_hash"], "n": row["object_id"]})
                row["prev_hash"] = prev
                row["hash"] = audit.row_hash(prev, row)
                if key_bytes is not None and row["mac"] is not None:
                    if row["action"] == audit.SEAL_ACTION:
                        prev_mac = GENESIS
                    row["mac"] = hmac.new(key_bytes, (prev_mac + row["hash"]).encode(), "sm3").hexdigest()
                    prev_mac = row["mac"]
                new_hash[row["id"]] = row["hash"]
                conn.execute(text("UPDATE audit_log SET actor = :actor, details = :details, prev_hash = :prev_hash, "
                                  "hash = :hash, mac = :mac WHERE id = :id"), row)
                prev = row["hash"]
    finally:
        engine.dispose()
    if key_bytes is not None:  # and the head file, which the key holder can write too
        head = json.loads(head_path(case.key).read_text())
        last = rows[-1]
        head.update(row=last["id"], hash=last["hash"], mac=last["mac"])
        head_path(case.key).write_text(json.dumps(head))


def test_an_untouched_whitelist_verifies(tmp_path, db_url):
    case = certified(tmp_path, db_url)
    report = case.verify("--runs", "--checkpoint", str(case.cert_json), "--checkpoint", str(case.export))
    assert report["ok"], report["problems"]
    # two certificates (the tested platform and the declared one it covers): two checkpoints, plus the export's
    assert report["audit"]["sealed"] and report["certificates"] == 2 and report["checkpoints"] == 3
    assert oct(case.key.stat().st_mode & 0o777) == "0o600" and oct(head_path(case.key).stat().st_mode & 0o777) == "0o600"


# -- the attacks -----------------------------------------------------------------------------------

def attack_certificate_rewritten(case: Certified) -> None:
    """The issue's case: results.jsonl edited, the certificate's evidence list and SM3 recomputed."""
    results = case.run / "results.jsonl"
    results.write_text(results.read_text().replace('"outcome": "passed"', '"outcome": "passed", "edited": 1'))
    for cert_id, listed in case.sql("SELECT id, evidence_manifest FROM certificates")[0]:
        manifest = json.loads(listed)
        manifest[next(k for k in manifest if k.endswith("/results.jsonl"))] = sm3(results.read_bytes())
        text_ = canonical(manifest)
        case.sql("UPDATE certificates SET evidence_manifest = :m, evidence_sm3 = :s WHERE id = :i",
                 params={"m": text_, "s": sm3(text_.encode()), "i": cert_id})


def attack_run_manifest_rewritten(case: Certified) -> None:
    results = case.run / "results.jsonl"
    results.write_text(results.read_text() + "\n")
    (run,) = case.sql("SELECT id, manifest FROM runs")[0]
    manifest = json.loads(run[1])
    manifest["results.jsonl"] = sm3(results.read_bytes())
    case.sql("UPDATE runs SET manifest = :m", params={"m": canonical(manifest)})


def attack_run_manifest_and_digest_rewritten(case: Certified) -> None:
    attack_run_manifest_rewritten(case)
    (run,) = case.sql("SELECT manifest FROM runs")[0]
    case.sql("UPDATE runs SET digest = :d", params={"d": manifest_digest(json.loads(run[0]))})


def attack_tail_deleted(case: Certified) -> None:
    case.drop_triggers()
    case.sql("DELETE FROM audit_log WHERE id > (SELECT max(id) - 3 FROM audit_log)")


def attack_log_emptied(case: Certified) -> None:
    case.drop_triggers()
    case.sql("DELETE FROM audit_log")


def attack_row_edited_hashes_recomputed(case: Certified) -> None:
    rewrite_log(case, lambda row: {**row, "actor": "mallory"} if row["action"] == "submission.approve" else row)


def attack_macs_removed(case: Certified) -> None:
    case.drop_triggers()
    case.sql("UPDATE audit_log SET mac = NULL WHERE action = 'submission.approve'")


def attack_seal_removed_chain_rebuilt(case: Certified) -> None:
    case.drop_triggers()
    case.sql("DELETE FROM audit_log WHERE action = 'audit.seal'", "UPDATE audit_log SET mac = NULL")
    rewrite_log(case, lambda row: row)


def attack_certificate_hidden_as_revoked(case: Certified) -> None:
    case.sql("UPDATE certificates SET revoked_at = '2026-01-01T00:00:00Z'")


def attack_certificate_deleted(case: Certified) -> None:
    case.sql("DELETE FROM certificates")


def attack_entry_status_flipped(case: Certified) -> None:
    case.sql("UPDATE entries SET status = 'incompatible', level = NULL WHERE kind = 'tested'")


def attack_entry_forged(case: Certified) -> None:
    """A 'compatible' row added for a platform nobody tested (a copy of the tested one, made current there)."""
    (entry,) = case.sql("SELECT product_version_id, platform_id FROM entries WHERE kind = 'tested'")[0]
    case.sql("INSERT INTO platforms (fingerprint, arch, os_id, os_version, declared_only) "
             "VALUES ('forged', 'x86_64', 'kylin', 'V10', false)")
    (pid,) = case.sql("SELECT id FROM platforms WHERE fingerprint = 'forged'")[0][0]
    case.sql("INSERT INTO entries (product_version_id, platform_id, kind, status, level, stage, current, created_at) "
             "VALUES (:pv, :pid, 'external', 'compatible', 'validated', 'rollout', true, '2026-01-01T00:00:00Z')",
             params={"pv": entry[0], "pid": pid})


def attack_key_deleted(case: Certified) -> None:
    case.key.unlink()


def attack_key_replaced(case: Certified) -> None:
    case.key.write_text(os.urandom(32).hex() + "\n")
    case.key.chmod(0o600)


def attack_head_deleted_and_tail_cut(case: Certified) -> None:
    head_path(case.key).unlink()
    attack_tail_deleted(case)


ATTACKS = [
    (attack_certificate_rewritten, [], "differs from its certificate.issue record"),
    (attack_run_manifest_rewritten, ["--runs"], "runs.manifest does not match runs.digest"),
    (attack_run_manifest_and_digest_rewritten, [], "differs from its run.import record"),
    (attack_tail_deleted, [], "audit log truncated: the head file says row"),
    (attack_log_emptied, [], "the log is empty"),
    (attack_row_edited_hashes_recomputed, [], "keyed seal does not match"),
    (attack_macs_removed, [], "not sealed (no MAC)"),
    (attack_seal_removed_chain_rebuilt, [], "the audit log has no seal row"),
    (attack_certificate_hidden_as_revoked, [], "without a certificate.revoke record"),
    (attack_certificate_deleted, [], "but the certificate row is gone"),
    (attack_entry_status_flipped, [], "the entry was edited"),
    (attack_entry_forged, [], "has no record in the audit log: added outside xch"),
    (attack_key_deleted, [], "is missing: the keyed seal cannot be checked"),
    (attack_key_replaced, [], "is not the key this log was sealed with"),
    (attack_head_deleted_and_tail_cut, [], "is missing: rows removed from the end of the log cannot be detected"),
]


@pytest.mark.parametrize("attack, args, expected", ATTACKS, ids=[a.__name__[7:] for a, _, _ in ATTACKS])
def test_each_attack_is_reported(tmp_path, db_url, attack, args, expected):
    case = certified(tmp_path, db_url)
    attack(case)
    report = case.verify(*args)
    assert not report["ok"] and expected in problems(report), problems(report)


def test_the_unkeyed_chain_alone_would_have_passed(tmp_path, db_url):
    """Why the key: after an edit with every later hash recomputed, the SM3 chain itself is perfect."""
    case = certified(tmp_path, db_url)
    attack_row_edited_hashes_recomputed(case)
    database = db.connect(db_url)
    try:
        with database.read() as conn:
            assert audit.verify_chain(conn) == []
    finally:
        database.dispose()
    text_ = problems(case.verify())
    assert "keyed seal does not match" in text_ and "chain broken" not in text_


def test_without_the_key_nothing_more_is_written(tmp_path, db_url):
    case = certified(tmp_path, db_url)
    attack_key_deleted(case)
    done = wl("submit", "--product", "kp-db", "--version", "1", "--by", "vendor-li", db=db_url)
    assert done.rc == 2 and "the audit key of this database is missing" in done.stderr
    attack_key_replaced(case)
    done = wl("submit", "--product", "kp-db", "--version", "1", "--by", "vendor-li", db=db_url)
    assert done.rc == 2 and "is not the one that sealed this database's audit log" in done.stderr
    case.key.unlink()
    case.key.write_text("0" * 64)
    case.key.chmod(0o644)
    done = wl("submit", "--product", "kp-db", "--version", "1", "--by", "vendor-li", db=db_url)
    assert done.rc == 2 and "chmod 600" in done.stderr


def test_unsealing_and_setting_the_schema_back_is_refused(tmp_path, db_url):
    """Drop the MAC column and claim revision 0002, so xch would seal the edited log afresh: it refuses."""
    case = certified(tmp_path, db_url)
    case.drop_triggers()
    case.sql("DELETE FROM audit_log WHERE action = 'audit.seal'", "ALTER TABLE audit_log DROP COLUMN mac",
             "ALTER TABLE certificates DROP COLUMN audit_hash", "ALTER TABLE certificates DROP COLUMN audit_row",
             "UPDATE alembic_version SET version_num = '0002'")
    done = wl("verify", db=db_url)
    assert done.rc == 2 and "this key already sealed an audit chain" in done.stderr, done.stderr


def test_a_key_holder_is_caught_only_by_checkpoints_kept_elsewhere(tmp_path, db_url):
    """The documented limit: with the key, a rewrite passes the database's own checks; the certificate's
    holder and the export's recipient still hold the old chain head."""
    case = certified(tmp_path, db_url)
    key = load_key(case.key)
    rewrite_log(case, lambda row: {**row, "actor": "mallory"} if row["action"] == "submission.submitted" else row,
                key_bytes=key.secret)
    assert case.verify()["ok"], "a key holder's rewrite is not visible from inside (seal.py says so)"
    for kept in (case.cert_json, case.export):
        report = case.verify("--checkpoint", str(kept))
        assert not report["ok"] and "the log was rewritten" in problems(report), (kept, problems(report))


def test_a_key_holder_who_cuts_the_tail_is_caught_by_a_checkpoint(tmp_path, db_url):
    case = certified(tmp_path, db_url)
    key = load_key(case.key)
    case.drop_triggers()
    case.sql("DELETE FROM certificates", "DELETE FROM audit_log WHERE action IN "
             "('certificate.issue', 'submission.certified', 'entry.promote')")
    rewrite_log(case, lambda row: row, key_bytes=key.secret)
    assert case.verify()["ok"]
    report = case.verify("--checkpoint", str(case.export))
    assert not report["ok"] and "is gone" in problems(report), problems(report)


def test_bad_checkpoint_files_are_refused_clearly(tmp_path, db_url):
    bad = tmp_path / "bad.json"
    bad.write_text('{"rows": 3}')
    done = wl("verify", "--checkpoint", str(bad), db=db_url)
    assert done.rc == 2 and str(bad) in done.stderr and "audit_row" in done.stderr
    fake = tmp_path / "fake.xlsx"
    fake.write_bytes(b"not a zip")
    done = wl("verify", "--checkpoint", str(fake), db=db_url)
    assert done.rc == 2 and "not a readable xlsx file" in done.stderr


def test_a_database_from_before_the_seal_is_sealed_as_found(tmp_path, db_url):
    """Schema 0002 with audit rows (unkeyed chain), upgraded in place: the seal pins them; a later rewrite shows."""
    old = db.connect(db_url, upgrade_schema=False)
    db.upgrade(old, "0002")
    prev = GENESIS
    engine = create_engine(db_url)
    with engine.begin() as conn:
        for n in range(3):
            row = {"at": f"2025-01-01T00:00:0{n}Z", "actor": "old-clerk", "action": "test.legacy",
                   "object_type": "thing", "object_id": str(n), "details": "{}"}
            row["prev_hash"], row["hash"] = prev, audit.row_hash(prev, row)
            conn.execute(text("INSERT INTO audit_log (at, actor, action, object_type, object_id, details, prev_hash, "
                              "hash) VALUES (:at, :actor, :action, :object_type, :object_id, :details, :prev_hash, "
                              ":hash)"), row)
            prev = row["hash"]
    engine.dispose()
    old.dispose()
    done = wl("upgrade", "--json", db=db_url)
    assert done.rc == 0 and (done.json()["from"], done.json()["to"]) == ("0002", "0003"), done.stderr
    case = Certified(db_url, tmp_path, tmp_path, tmp_path, key_path_for(db_url))
    report = case.verify()
    assert report["ok"], report["problems"]
    seal = [r for r in wl("audit", "--json", "--type", "audit", db=db_url).json() if r["action"] == "audit.seal"]
    details = json.loads(seal[0]["details"])
    assert (details["sealed_rows"], details["sealed_head"]) == (3, prev)
    rewrite_log(case, lambda row: {**row, "actor": "mallory"} if row["object_id"] == "1" else row)
    assert "rows before the seal (row 4) were rewritten" in problems(case.verify())
