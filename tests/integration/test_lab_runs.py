"""The pipeline end to end on the real lab: facts over SSH, the smoke suite on both targets in parallel."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab


def test_targets_check_reports_real_facts_of_both_lab_targets(lab_inventory, xch):
    done = xch("targets", "check", "--inventory", str(lab_inventory), "--json")
    assert done.rc == 0, done.stderr
    rows = {row["name"]: row for row in done.json()}
    arm, x86 = rows["lab-arm64"], rows["lab-x86"]
    assert arm["reachable"] and x86["reachable"] and arm["error"] is None
    assert arm["facts"]["arch"] == "aarch64" and x86["facts"]["arch"] == "x86_64"
    for facts in (arm["facts"], x86["facts"]):
        assert facts["os_id"] == "debian" and facts["os_version"] == "12"
        assert facts["glibc"] == "2.36"
        assert facts["pkg_manager"] == "apt-get"
        assert facts["cores"] >= 1 and facts["mem_total_mb"] > 100 and facts["page_size"] >= 4096
        for key in ("cpu_vendor", "cpu_model", "os_name", "kernel"):
            assert facts[key], key


def test_label_selection_and_human_table(lab_inventory, xch):
    done = xch("targets", "list", "--inventory", str(lab_inventory), "--targets", "role=baseline", "--json")
    assert done.rc == 0 and [t["name"] for t in done.json()] == ["lab-x86"]
    table = xch("targets", "check", "--inventory", str(lab_inventory))
    assert table.rc == 0 and "aarch64" in table.stdout and "x86_64" in table.stdout


def test_smoke_suite_on_both_targets_in_parallel(lab_inventory, xch, tmp_path):
    run_dir = tmp_path / "run"
    done = xch("run", "--suite", "smoke", "--inventory", str(lab_inventory), "-n", "2", "--run-dir", str(run_dir), "--json")
    assert done.rc == 0, done.stdout + done.stderr
    summary = done.json()
    assert summary["totals"] == {"passed": 8, "failed": 0, "error": 0, "skipped": 0}

    records = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    assert {(r["target"], r["check_id"]) for r in records} == {
        (t, c) for t in ("lab-arm64", "lab-x86") for c in ("SMOKE-001", "SMOKE-002", "SMOKE-003", "SMOKE-004")}
    workers = {r["target"]: {x["worker"] for x in records if x["target"] == r["target"]} for r in records}
    assert all(len(w) == 1 for w in workers.values()), f"a target was driven by several workers: {workers}"
    for r in records:
        assert set(r) >= {"run_id", "target", "check_id", "level", "outcome", "reason", "duration_s", "started_at",
                          "evidence", "metrics"}
        assert r["run_id"] == run_dir.name and r["level"] == "mandatory"
    arm_smoke3 = next(r for r in records if r["target"] == "lab-arm64" and r["check_id"] == "SMOKE-003")
    assert arm_smoke3["evidence"]["elf_e_machine"] == ["b7", "00"]  # ARM64 ELF, really

    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "finished" and run["ended_at"] >= run["started_at"]
    assert run["facts"]["lab-arm64"]["arch"] == "aarch64" and run["facts"]["lab-x86"]["arch"] == "x86_64"
    assert run["args"]["suite"] == "smoke" and run["versions"]["xch"]
    assert {t["name"] for t in run["targets"]} == {"lab-arm64", "lab-x86"}

    junit = ET.parse(run_dir / "junit.xml").getroot()
    assert sum(int(s.get("tests")) for s in junit) == 8 and all(s.get("failures") == "0" for s in junit)
    for target in ("lab-arm64", "lab-x86"):
        log = (run_dir / "logs" / target / "commands.log").read_text()
        assert "$ echo xch-ok; uname -a" in log and "rc=0" in log
    # No secret material in the run folder: not the private key, not its path's contents.
    key_text = Path("/var/lib/xch/lab/id_ed25519").read_text().splitlines()[1]
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert key_text not in path.read_text(errors="replace"), path


def test_human_summary_table(lab_inventory, xch, tmp_path):
    done = xch("run", "--suite", "smoke", "--inventory", str(lab_inventory), "--targets", "lab-x86",
               "--run-dir", str(tmp_path / "r"))
    assert done.rc == 0
    assert "lab-x86" in done.stdout and "passed" in done.stdout
    shown = xch("results", "show", str(tmp_path / "r"), "--json")
    assert shown.rc == 0 and shown.json()["totals"]["passed"] == 4


def test_shards_split_the_fleet_between_controllers(lab_inventory, xch, tmp_path):
    seen = {}
    for index in (1, 2):
        run_dir = tmp_path / f"shard{index}"
        done = xch("run", "--suite", "smoke", "--inventory", str(lab_inventory), "--shard", f"{index}/2",
                   "--run-dir", str(run_dir), "--json")
        assert done.rc == 0, done.stderr
        seen[index] = {row["target"] for row in done.json()["summary"]}
        assert json.loads((run_dir / "run.json").read_text())["args"]["shard"] == f"{index}/2"
    assert seen == {1: {"lab-arm64"}, 2: {"lab-x86"}}
