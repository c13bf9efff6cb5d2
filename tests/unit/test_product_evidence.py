"""Evidence bundles and verdicts, from a run folder laid out as `xch run` writes it."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from harness.certify.evidence import bundle_name, verdict, verify_bundle, write_bundle
from harness.core.storage import atomic_write_json


def rec(check: str, outcome: str, level: str = "mandatory", target: str = "t1") -> dict:
    return {"run_id": "r", "target": target, "check_id": check, "level": level, "outcome": outcome,
            "reason": "", "duration_s": 1.5, "started_at": "2025-01-01T00:00:00Z", "evidence": {}, "metrics": []}


@pytest.mark.parametrize("outcomes, expected", [
    ([("A", "passed", "mandatory"), ("B", "skipped", "mandatory")], "compatible"),
    ([("A", "passed", "mandatory"), ("B", "failed", "optional")], "conditional"),
    ([("A", "passed", "mandatory"), ("B", "failed", "mandatory"), ("C", "error", "mandatory")], "incompatible"),
    ([("A", "passed", "mandatory"), ("B", "error", "mandatory")], "pending"),
    ([("A", "skipped", "mandatory")], "pending"),
])
def test_verdict(outcomes, expected):
    assert verdict([rec(c, o, level) for c, o, level in outcomes]) == expected


def test_bundle_holds_the_evidence_and_verifies(tmp_path):
    run_dir = tmp_path / "run-1"
    (run_dir / "facts").mkdir(parents=True)
    (run_dir / "logs" / "t1").mkdir(parents=True)
    atomic_write_json(run_dir / "run.json", {"run_id": "run-1", "versions": {"xch": "0.1.0"}})
    atomic_write_json(run_dir / "facts" / "t1.json", {"arch": "aarch64", "glibc": "2.36"})
    (run_dir / "logs" / "t1" / "commands.log").write_text("$ uname -m\naarch64\n")
    atomic_write_json(run_dir / "product.json", {"id": "p/1", "artifacts": [
        {"arch": "aarch64", "file": "a.deb", "sha256": "1" * 64, "sm3": "2" * 64},
        {"arch": "x86_64", "file": "b.deb", "sha256": "3" * 64, "sm3": "4" * 64},
        {"arch": "all", "file": "c.deb", "sha256": "5" * 64, "sm3": "6" * 64}]})
    toml = tmp_path / "product.toml"
    toml.write_text("[product]\n")
    records = [rec("COMPAT-INSTALL-001", "passed"), rec("COMPAT-RESIDUE-001", "failed")]
    entry = write_bundle(run_dir, "p/1", "t1", records, product_toml=toml)
    assert bundle_name("p/1", "t1") == "p_1__t1.tar.gz"
    assert entry["file"] == "evidence/p_1__t1.tar.gz" and entry["verdict"] == "incompatible"
    bundle = run_dir / entry["file"]
    assert verify_bundle(bundle) == []
    with tarfile.open(bundle) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    assert json.loads(files["p_1__t1/artifacts.json"]) == [  # the target's arch and arch-independent ones
        {"arch": "aarch64", "file": "a.deb", "sha256": "1" * 64, "sm3": "2" * 64},
        {"arch": "all", "file": "c.deb", "sha256": "5" * 64, "sm3": "6" * 64}]
    assert files["p_1__t1/logs/commands.log"].startswith(b"$ uname -m")
    assert len(files["p_1__t1/records.jsonl"].splitlines()) == 2
    assert json.loads(files["p_1__t1/summary.json"])["checks"] == {"COMPAT-INSTALL-001": "passed",
                                                                   "COMPAT-RESIDUE-001": "failed"}
    assert b"  summary.json\n" in files["p_1__t1/MANIFEST.sm3"]
    index = json.loads((run_dir / "evidence" / "index.json").read_text())
    assert [e["target"] for e in index] == ["t1"] and index[0]["sha256"] == entry["sha256"]
    write_bundle(run_dir, "p/1", "t1", records)  # rewriting replaces, never duplicates
    assert len(json.loads((run_dir / "evidence" / "index.json").read_text())) == 1


def test_tampering_is_detected(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    bundle = run_dir / write_bundle(run_dir, "p", "t1", [rec("A", "passed")])["file"]
    with tarfile.open(bundle) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(bundle, "w:gz") as tar:
        for member, data in members:
            if member.name.endswith("records.jsonl"):
                data = data.replace(b'"passed"', b'"failed"')
                member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    assert verify_bundle(bundle) == ["records.jsonl: digest mismatch"]


def test_a_damaged_bundle_is_one_problem_not_a_crash(tmp_path):
    """verify_bundle reads through the one package reader: truncation is reported, never raised."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    bundle = run_dir / write_bundle(run_dir, "p", "t1", [rec("A", "passed")])["file"]
    data = bundle.read_bytes()
    bundle.write_bytes(data[:len(data) // 2])
    [problem] = verify_bundle(bundle)
    assert problem.startswith("bundle unreadable: ") and str(bundle) in problem and "truncated" in problem
