"""`xch certify` runs the perf and migration suites a product asks for, on the real lab.

products/redis-server declares `[certify] suites = ["perf", "migration"]`, a redis-benchmark
workload, service levels and a parity file. One certification on lab-arm64 + lab-x86 (baseline)
is made once for the module (about 3 minutes, most of it qemu emulation) and every test reads it:
- perf: the real redis-server is deployed on each target in turn, its workload measured, the
  emulated arm64 compared with the stored x86 samples; service levels judged on both;
- migration: real redis behaviour compared between the x86 source and arm64, which finds the real
  INCRBYFLOAT long-double difference;
- all records land in the one certification run, its bundles, and a whitelist import of it;
- nothing of the product is left on either target afterwards.
A product whose service never becomes healthy cannot be deployed for perf: that is an error
record (CERTIFY-DEPLOY-PERF), never a silent pass.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import psutil
import pytest

from harness.certify.evidence import verify_bundle
from harness.inventory import load_inventory
from harness.transport import open_connection

pytestmark = pytest.mark.lab

PROJECT = Path(__file__).resolve().parents[2]
REDIS = PROJECT / "products" / "redis-server"


def xch(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=PROJECT, capture_output=True,
                          text=True, timeout=timeout)


LEFTOVERS = "ls -d /tmp/xch-parity-redis.* /tmp/xch-compat-* 2>/dev/null; true"


def redis_processes() -> list[list[str]]:
    """redis-server processes on the host (the lab shares the host's PID namespace)."""
    return [p.info["cmdline"] for p in psutil.process_iter(["cmdline"])
            if any("redis-server" in part for part in (p.info["cmdline"] or [])[:2])]


def on_targets(lab_inventory, command: str) -> dict[str, str]:
    inventory = load_inventory([lab_inventory])
    out = {}
    for name in ("lab-arm64", "lab-x86"):
        conn = open_connection(inventory.get(name))
        try:
            out[name] = conn.run(command, timeout=60).stdout
        finally:
            conn.close()
    return out


@pytest.fixture(scope="module")
def leftovers_before(lab_inventory):
    """Work folders and redis processes already there before the certification (an earlier, interrupted
    run's), so the clean-up test judges this certification only, whatever the lab's history."""
    return {name: set(out.split()) for name, out in on_targets(lab_inventory, LEFTOVERS).items()}, redis_processes()


@pytest.fixture(scope="module")
def redis_certified(lab_inventory, tmp_path_factory, leftovers_before):
    run_dir = tmp_path_factory.mktemp("certify") / "redis"
    done = xch("certify", str(REDIS), "--targets", "lab-arm64,lab-x86", "--inventory", str(lab_inventory),
               "--run-dir", str(run_dir), "--json")
    assert done.returncode in (0, 1), done.stderr[-3000:]
    return run_dir, json.loads(done.stdout), done


def records_of(run_dir: Path, target: str) -> dict[str, dict]:
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    return {r["check_id"]: r for r in map(json.loads, lines) if r["target"] == target}


def metric(record: dict, name: str) -> dict:
    return next(m for m in record["metrics"] if m["name"] == name)


def test_certify_runs_compat_then_the_suites_the_product_asks_for(redis_certified):
    run_dir, data, done = redis_certified
    assert data["suites"] == ["compat", "perf", "migration"] and data["baseline"] == "lab-x86"
    for target in ("lab-arm64", "lab-x86"):
        recs = records_of(run_dir, target)
        compat = {k: r for k, r in recs.items() if k.startswith("COMPAT-") and r["level"] == "mandatory"}
        assert len(compat) == 17 and all(r["outcome"] == "passed" for r in compat.values()), \
            {k: r["reason"] for k, r in compat.items() if r["outcome"] != "passed"}
        assert {"PERF-WL-001", "PERF-SVC-001", "PERF-SVC-002"} <= set(recs)
        assert all(recs[c]["suite"] == "perf" and recs[c]["sub_run"] == f"suites/perf-{target}"
                   for c in ("PERF-WL-001", "PERF-SVC-001", "PERF-SVC-002"))
    # the sub-runs are complete run folders of their own, listed in the certification's run.json
    certify = json.loads((run_dir / "run.json").read_text())["certify"]
    assert [(s["suite"], s["target"]) for s in certify["sub_runs"]] == [
        ("perf", "lab-x86"), ("perf", "lab-arm64"), ("migration", "lab-arm64")]
    for sub in certify["sub_runs"]:
        assert json.loads((run_dir / sub["run_dir"] / "run.json").read_text())["status"] == "finished"
        assert sub["deploy"]["teardown"] == ["stopped and uninstalled"]
    assert "perf on lab-arm64: installing and starting redis-server" in done.stderr


def test_product_workload_on_both_targets_against_the_stored_x86_baseline(redis_certified):
    run_dir, data, _ = redis_certified
    x86 = records_of(run_dir, "lab-x86")["PERF-WL-001"]
    arm = records_of(run_dir, "lab-arm64")["PERF-WL-001"]
    for rec in (x86, arm):
        for name in ("workload.set-get.set_rps", "workload.set-get.get_rps"):
            m = metric(rec, name)
            assert m["unit"] == "req/s" and m["direction"] == "higher" and len(m["samples"]) >= 5
            assert all(s > 0 for s in m["samples"])
    x86_set = metric(x86, "workload.set-get.set_rps")
    assert x86_set["baseline"] is None and x86_set["verdict"] == "measured"  # the baseline is measured alone
    arm_set = metric(arm, "workload.set-get.set_rps")
    base = arm_set["baseline"]
    assert base["target"] == "lab-x86@perf-lab-x86" and base["source"].startswith("stored run")
    assert base["samples"] == x86_set["samples"]  # compared with exactly the samples x86 recorded
    assert base["ratio"] < 1.0 and arm_set["emulation"] == "qemu-user"
    shown = {m["metric"]: m for t in data["targets"] if t["target"] == "lab-arm64" for m in t["metrics"]}
    assert shown["workload.set-get.set_rps"]["vs_baseline"] == base["ratio"]


def test_service_levels_pass_on_both_targets(redis_certified):
    run_dir, _, _ = redis_certified
    for target in ("lab-arm64", "lab-x86"):
        recs = records_of(run_dir, target)
        svc, recovery = recs["PERF-SVC-001"], recs["PERF-SVC-002"]
        assert svc["outcome"] == "passed" and svc["level"] == "mandatory", svc["reason"]
        assert 0 < metric(svc, "service.probe.p99_s")["value"] < 5.0
        avail = metric(svc, "service.availability")
        assert avail["value"] == 1.0 and avail["probes"] >= 17  # the product's lab-tier criteria
        assert recovery["outcome"] == "passed", recovery["reason"]
        rec = metric(recovery, "service.recovery_s")
        assert rec["recovered"] is True and rec["kill_rc"] == 0 and 0 < rec["value"] < 900


def test_migration_parity_finds_the_long_double_difference(redis_certified):
    run_dir, _, _ = redis_certified
    arm = records_of(run_dir, "lab-arm64")
    assert arm["PARITY-REDIS-VERSION"]["outcome"] == "passed", arm["PARITY-REDIS-VERSION"]["reason"]
    assert arm["PARITY-REDIS-DATA"]["outcome"] == "passed", arm["PARITY-REDIS-DATA"]["reason"]
    flt = arm["PARITY-REDIS-FLOAT"]
    assert flt["outcome"] == "failed" and flt["level"] == "optional" and flt["suite"] == "migration"
    # x87 80-bit long double on x86-64 vs IEEE quad on aarch64
    assert "5010.60000000000000009" in flt["reason"] and "'5010.6'" in flt["reason"]
    assert not any(k.startswith("PARITY-") for k in records_of(run_dir, "lab-x86"))  # the source is not a destination


def test_bundles_and_whitelist_see_every_suite(redis_certified, tmp_path):
    run_dir, data, _ = redis_certified
    verdicts = {t["target"]: t["verdict"] for t in data["targets"]}
    # optional misses only: emulated throughput below 0.8 x x86, the long-double parity difference
    assert verdicts == {"lab-arm64": "conditional", "lab-x86": "compatible"}, verdicts
    bundle = run_dir / "evidence" / "redis-server__lab-arm64.tar.gz"
    assert verify_bundle(bundle) == []
    with tarfile.open(bundle) as tar:
        names = {m.name.split("/", 1)[1] for m in tar.getmembers()}
        recs = [json.loads(line) for line in tar.extractfile("redis-server__lab-arm64/records.jsonl").read().splitlines()]
    assert {"logs/perf-lab-arm64/commands.log", "logs/migration-lab-arm64/commands.log",
            "logs/deploy/commands.log"} <= names
    assert {r["check_id"] for r in recs} >= {"COMPAT-RESIDUE-001", "PERF-WL-001", "PARITY-REDIS-FLOAT"}
    db = f"sqlite:///{tmp_path / 'wl.db'}"
    done = xch("whitelist", "compile", str(run_dir), "--db", db, "--json", timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    [imported] = json.loads(done.stdout)
    statuses = {e["targets"]: e["status"] for e in imported["entries"]}
    assert statuses == {"lab-arm64": "conditional", "lab-x86": "compatible"}, imported


def test_nothing_of_the_product_is_left_on_the_targets(redis_certified, lab_inventory, leftovers_before):
    folders_before, processes_before = leftovers_before
    packages = on_targets(lab_inventory, "dpkg-query -W -f '${Package} ${db:Status-Status}\\n' redis-server "
                                         "redis-tools 2>/dev/null; true")
    for name, folders in on_targets(lab_inventory, LEFTOVERS).items():
        assert " installed" not in packages[name], f"{name}: {packages[name]}"
        new = set(folders.split()) - folders_before[name]
        assert not new, f"{name}: work folders of this certification left behind: {sorted(new)}"
    # the lab shares the host's PID namespace: a redis-server left running on either target shows here
    running = [p for p in redis_processes() if p not in processes_before]
    assert not running, running


def test_a_product_that_cannot_be_deployed_is_an_error_not_a_pass(lab_inventory, tmp_path):
    """Never healthy: compat fails HEALTH, and perf cannot measure it, which is recorded as such."""
    product = tmp_path / "never-healthy"
    product.mkdir()
    text = (REDIS / "product.toml").read_text()
    text = text.replace('health = { type = "tcp", port = 6379, timeout = 60 }',
                        'health = { type = "command", command = "false", timeout = 3 }')
    text = text.replace('suites = ["perf", "migration"]', 'suites = ["perf"]')
    text = text.replace('[migration]\nparity = "parity.toml"', "")
    (product / "product.toml").write_text(text)
    run_dir = tmp_path / "run"
    done = xch("certify", str(product), "--targets", "lab-x86", "--inventory", str(lab_inventory),
               "--run-dir", str(run_dir), "--json")
    assert done.returncode == 1, done.stderr[-2000:]
    recs = records_of(run_dir, "lab-x86")
    assert recs["COMPAT-HEALTH-001"]["outcome"] == "failed"
    deploy = recs["CERTIFY-DEPLOY-PERF"]
    assert deploy["outcome"] == "error" and deploy["level"] == "mandatory"
    assert "health probe" in deploy["reason"] and "the perf suite could not run" in deploy["reason"]
    assert not any(k.startswith("PERF-") for k in recs)
    data = json.loads(done.stdout)
    assert data["targets"][0]["verdict"] == "incompatible"


def test_live_baseline_for_a_tool_product(lab_inventory, tmp_path):
    """zstd binds no port, so the lab can keep it on the x86 baseline while arm64 is measured, interleaved."""
    run_dir = tmp_path / "zstd"
    done = xch("certify", str(PROJECT / "products" / "zstd"), "--targets", "lab-arm64,lab-x86", "--inventory",
               str(lab_inventory), "--run-dir", str(run_dir), "--perf-baseline", "live", "--json")
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert "(kept: live baseline)" in done.stderr
    arm = records_of(run_dir, "lab-arm64")["PERF-WL-001"]
    for name in ("workload.bench-l3.compress_mb_s", "workload.bench-l3.decompress_mb_s"):
        m = metric(arm, name)
        base = m["baseline"]
        assert base["source"] == "live, interleaved" and base["target"] == "lab-x86"
        assert len(base["samples"]) == len(m["samples"]) >= 5  # interleaved rounds
        assert base["ratio"] < 0.7 and base["significant"] is True  # qemu-user emulation is far slower
    x86 = metric(records_of(run_dir, "lab-x86")["PERF-WL-001"], "workload.bench-l3.compress_mb_s")
    assert x86["baseline"] is None and all(s > 0 for s in x86["samples"])
    certify = json.loads((run_dir / "run.json").read_text())["certify"]
    assert [(s["suite"], s["target"]) for s in certify["sub_runs"]] == [("perf", "lab-x86"), ("perf", "lab-arm64")]
    assert all(s["deploy"]["teardown"] == ["stopped and uninstalled"] for s in certify["sub_runs"])
    compat = [r for k, r in records_of(run_dir, "lab-arm64").items() if k.startswith("COMPAT-")]
    assert not [r for r in compat if r["outcome"] in ("failed", "error")]


def test_live_baseline_with_ports_on_a_shared_network_is_refused_clearly(lab_inventory, tmp_path):
    """The lab's targets share one network: redis on the live baseline holds 6379, so arm64 cannot
    deploy it. That is a CERTIFY-DEPLOY-PERF error naming the port, never a measurement of the wrong server."""
    run_dir = tmp_path / "redis-live"
    done = xch("certify", str(REDIS), "--targets", "lab-arm64,lab-x86", "--inventory", str(lab_inventory),
               "--run-dir", str(run_dir), "--perf-baseline", "live", "--suites", "perf", "--json")
    assert done.returncode == 3, done.stderr[-3000:]
    deploy = records_of(run_dir, "lab-arm64")["CERTIFY-DEPLOY-PERF"]
    assert deploy["outcome"] == "error" and "[6379]" in deploy["reason"] and "already in use" in deploy["reason"]
    assert "PERF-WL-001" not in records_of(run_dir, "lab-arm64")
    assert records_of(run_dir, "lab-x86")["PERF-WL-001"]["outcome"] == "passed"
    verdicts = {t["target"]: t["verdict"] for t in json.loads(done.stdout)["targets"]}
    assert verdicts == {"lab-arm64": "pending", "lab-x86": "compatible"}


def test_an_interrupted_certification_is_resumed(lab_inventory, tmp_path):
    """SIGTERM while compat runs on lab-x86 (after lab-arm64 finished): xch stops, says how to go on,
    and `--resume` runs compat again on lab-x86 only (after removing what the killed run left), then
    perf on both, and finishes one run folder the whitelist accepts."""
    import signal
    import time

    from harness.whitelist.runfolder import read_run_folder

    run_dir = tmp_path / "zstd"
    args = [sys.executable, "-m", "harness.cli", "certify", str(PROJECT / "products" / "zstd"), "--targets",
            "lab-arm64,lab-x86", "--inventory", str(lab_inventory), "--perf-baseline", "live", "--json"]
    proc = subprocess.Popen([*args, "--run-dir", str(run_dir)], cwd=PROJECT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    results = run_dir / "results.jsonl"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        if results.exists() and '"target":"lab-x86","check_id":"COMPAT-INSTALL-001"' in results.read_text():
            break
        time.sleep(0.1)
    assert proc.poll() is None, "certify ended before the moment to interrupt it"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-2000:]
    assert f"--resume {run_dir}" in err
    done = subprocess.run([*args, "--resume", str(run_dir)], cwd=PROJECT, capture_output=True, text=True,
                          timeout=1200)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert "compat on lab-x86: not finished before" in done.stderr
    assert "compat on lab-arm64: not finished" not in done.stderr  # its compat was complete
    data = json.loads(done.stdout)
    assert data["resumed"] is True
    for target in ("lab-arm64", "lab-x86"):
        recs = records_of(run_dir, target)
        mandatory = {k: r for k, r in recs.items() if r["level"] == "mandatory"}
        assert not [k for k, r in mandatory.items() if r["outcome"] in ("failed", "error")], mandatory
        assert recs["COMPAT-RESIDUE-001"]["outcome"] == "passed" and recs["PERF-WL-001"]["outcome"] != "error"
        assert recs["CERTIFY-DEPLOY-PERF"]["outcome"] == "passed"
    assert records_of(run_dir, "lab-x86")["COMPAT-INSTALL-001"]["sub_run"] == "suites/compat-lab-x86"
    assert not (run_dir / "suites" / "compat-lab-arm64").exists()
    bundle = read_run_folder(run_dir)  # finished, facts for every target, every record valid
    assert {r["target"] for r in bundle.records} == {"lab-arm64", "lab-x86"}
    for entry in data["targets"]:
        assert verify_bundle(run_dir / entry["bundle"]) == []


def test_a_suite_that_cannot_run_is_an_error_on_each_target(lab_inventory, tmp_path):
    """Asked for, not run, never silent: migration without a baseline (nothing to be the parity source),
    and perf whose sub-run refuses its criteria file (it records nothing)."""
    alone = tmp_path / "alone.toml"  # lab-x86 without its role=baseline label: no baseline in the inventory
    alone.write_text('[[target]]\nname = "lab-x86"\nhost = "127.0.0.3"\nport = 2202\nuser = "root"\n'
                     'identity_file = "/var/lib/xch/lab/id_ed25519"\nknown_hosts = "/var/lib/xch/lab/known_hosts"\n')
    run_dir = tmp_path / "redis"
    done = xch("certify", str(REDIS), "--targets", "lab-x86", "--inventory", str(alone), "--run-dir", str(run_dir),
               "--suites", "migration", "--json")
    assert done.returncode == 3, done.stderr[-2000:]
    deploy = records_of(run_dir, "lab-x86")["CERTIFY-DEPLOY-MIGRATION"]
    assert deploy["outcome"] == "error" and "no baseline target" in deploy["reason"]
    assert json.loads(done.stdout)["targets"][0]["verdict"] == "pending"
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"

    bad = tmp_path / "bad-criteria.toml"
    bad.write_text('[metrics."workload.*"]\nmin_ratio = "fast"\n')
    run_dir = tmp_path / "zstd"
    done = xch("certify", str(PROJECT / "products" / "zstd"), "--targets", "lab-x86", "--inventory",
               str(lab_inventory), "--run-dir", str(run_dir), "--perf-criteria", str(bad), "--json")
    assert done.returncode == 3, done.stderr[-2000:]
    deploy = records_of(run_dir, "lab-x86")["CERTIFY-DEPLOY-PERF"]
    assert deploy["outcome"] == "error" and "recorded nothing" in deploy["reason"], deploy
    assert "min_ratio" in done.stderr  # the sub-run said what is wrong with the file
