"""Migration on the real lab: assess lab-x86 (source) against lab-arm64 (target); behaviour parity between them.

The assessment test installs a small in-house package on lab-x86 (built here with dpkg-deb: an init
script with its rc link, a cron job, a program and a config file) - the typical thing a migration
finds missing, since no repository of the target has it - and removes it afterwards.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from harness.core import shell
from harness.inventory import load_inventory
from harness.transport import open_connection

pytestmark = pytest.mark.lab

PROJECT = Path(__file__).resolve().parents[2]
APT = "DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -q"


def xch(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=PROJECT, capture_output=True, text=True,
                          timeout=900, env={**os.environ, **(env or {})})


def legacy_deb(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    files = {
        f"etc/init.d/{name}": "#!/bin/sh\n# legacy billing daemon\ncase \"$1\" in start|stop|status) exit 0;; esac\n",
        f"usr/bin/{name}": "#!/bin/sh\necho billing run\n",
        f"etc/cron.d/{name}": f"*/5 * * * * root /usr/bin/{name} --batch\n",
        f"etc/{name}.conf": "rate = 42\n",
        "DEBIAN/control": f"Package: {name}\nVersion: 3.1-1\nArchitecture: amd64\nMaintainer: ops <ops@example.org>\n"
                          "Description: in-house legacy billing service\n",
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755 if "/bin/" in rel or "init.d" in rel else 0o644)
    (root / "etc" / "rc2.d").mkdir(parents=True)
    (root / "etc" / "rc2.d" / f"S01{name}").symlink_to(f"../init.d/{name}")
    deb = tmp_path / f"{name}_3.1-1_amd64.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(root), str(deb)], check=True, capture_output=True)
    return deb


@pytest.fixture
def lab_x86(lab_inventory):
    inventory = load_inventory([lab_inventory])
    conn = open_connection(inventory.get("lab-x86"), inventory)
    conn.connect()
    yield conn
    conn.close()


def test_assessment_lab_x86_to_lab_arm64(lab_inventory, lab_x86, tmp_path):
    name = f"xch-legacy-{secrets.token_hex(3)}"
    deb = legacy_deb(tmp_path, name)
    remote = f"/tmp/{deb.name}"
    lab_x86.put(deb, remote)
    lab_x86.run(f"{APT} install {shell.quote(remote)}", timeout=900).check()
    try:
        out = tmp_path / "assessment.json"
        done = xch("migrate", "assess", "--source", "lab-x86", "--target", "lab-arm64", "--inventory", str(lab_inventory),
                   "--config", f"/etc/{name}.conf", "--json", "--out", str(out))
    finally:
        lab_x86.run(f"{APT} purge {shell.quote(name)}; rm -f {shell.quote(remote)}", timeout=900).check()
    assert done.returncode == 1, done.stderr  # blockers found
    result = json.loads(done.stdout)
    assert json.loads(out.read_text()) == result
    assert result["source"]["arch"] == "x86_64" and result["target"]["arch"] == "aarch64"
    assert result["source"]["pkg_family"] == result["target"]["pkg_family"] == "deb"
    blockers = {(b["area"], b["item"]) for b in result["blockers"]}
    assert ("packages", name) in blockers  # in-house package: no repository of the target has it
    assert ("services", name) in blockers  # its service comes from that package
    service = next(s for s in result["services"] if s["item"] == name)
    assert service["package"] == name and "not available" in service["detail"]
    warnings = {(w["area"], w["item"]) for w in result["warnings"]}
    assert ("cron", f"/etc/cron.d/{name}") in warnings
    cron = next(c for c in result["cron"] if c["item"] == f"/etc/cron.d/{name}")
    assert f"/usr/bin/{name}" in cron["detail"]  # the program the job runs is missing on the target
    assert ("configs", f"/etc/{name}.conf") in warnings
    # Every installed package of the source is judged, whatever earlier runs installed there (a fresh
    # lab has ~140, a warm one more: perf tools); a Debian 12 system exists almost whole for arm64 too.
    packages = result["areas"]["packages"]
    judged = packages["ok"] + packages["warning"] + packages["blocker"]
    assert judged + packages["info"] == result["source"]["packages"] == len(result["packages"])
    assert packages["ok"] >= 0.9 * judged, packages
    status = {p["item"]: p["status"] for p in result["packages"]}
    assert {status[n] for n in ("bash", "coreutils", "dpkg", "apt", "openssh-server", "python3")} == {"ok"}
    assert next(i for i in result["platform"] if i["item"] == "arch")["status"] == "info"
    assert next(i for i in result["platform"] if i["item"] == "glibc")["status"] == "ok"
    assert not result["ready"] and 0 < result["score"] < 100


def test_assessment_bad_selection_exits_2(lab_inventory):
    done = xch("migrate", "assess", "--source", "lab=true", "--target", "lab-arm64", "--inventory", str(lab_inventory))
    assert done.returncode == 2 and "must select exactly one target" in done.stderr


def records(run_dir: Path) -> dict[str, dict]:
    return {r["check_id"]: r for r in map(json.loads, (run_dir / "results.jsonl").read_text().splitlines())}


def test_parity_between_lab_targets_passes(lab_inventory, tmp_path):
    run_dir = tmp_path / "parity"
    done = xch("run", "--suite", "migration", "--inventory", str(lab_inventory), "--targets", "lab-arm64",
               "--run-dir", str(run_dir), "--json", env={"XCH_PARITY_SOURCE": "lab-x86"})
    assert done.returncode == 0, done.stdout + done.stderr
    got = records(run_dir)
    assert len(got) == 8 and {r["outcome"] for r in got.values()} == {"passed"}
    arch = got["PARITY-ARCH-NORMALISED"]["evidence"]
    assert arch["source"]["raw_stdout"] == "x86_64\n" and arch["destination"]["raw_stdout"] == "aarch64\n"
    assert arch["source"]["stdout"] == arch["destination"]["stdout"] == "<ARCH>"
    assert (run_dir / "logs" / "lab-x86.parity-source").is_dir()


def test_parity_catches_a_deliberate_difference(lab_inventory, tmp_path):
    parity = tmp_path / "diff.toml"
    parity.write_text('source = "role=baseline"\n'
                      '[[check]]\nid = "DIFF-UNAME"\nrun = "uname -m"\n'
                      '[[check]]\nid = "DIFF-DPKG-ARCH"\nrun = "echo start; dpkg --print-architecture; echo end"\n'
                      '[[check]]\nid = "SAME-SHA"\nrun = "printf abc | sha256sum"\n')
    run_dir = tmp_path / "parity"
    # both targets selected: the source (lab-x86, role=baseline) skips itself
    done = xch("run", "--suite", "migration", "--inventory", str(lab_inventory), "--run-dir", str(run_dir), "--json",
               env={"XCH_PARITY_FILE": str(parity)})
    assert done.returncode == 1, done.stdout + done.stderr
    got = {(r["target"], r["check_id"]): r for r in map(json.loads, (run_dir / "results.jsonl").read_text().splitlines())}
    assert {k: r["outcome"] for k, r in got.items()} == {
        ("lab-arm64", "DIFF-UNAME"): "failed", ("lab-arm64", "DIFF-DPKG-ARCH"): "failed",
        ("lab-arm64", "SAME-SHA"): "passed", ("lab-x86", "DIFF-UNAME"): "skipped",
        ("lab-x86", "DIFF-DPKG-ARCH"): "skipped", ("lab-x86", "SAME-SHA"): "skipped"}
    failed = got[("lab-arm64", "DIFF-DPKG-ARCH")]
    assert "lab-x86: 'amd64' vs lab-arm64: 'arm64'" in failed["reason"]
    assert failed["evidence"]["side_by_side_stdout"] == [{"line": 2, "source": "amd64", "destination": "arm64"}]
    assert failed["evidence"]["source"]["target"] == "lab-x86" and failed["evidence"]["destination"]["rc"] == 0


def test_bad_parity_file_is_bad_input(lab_inventory, tmp_path):
    parity = tmp_path / "bad.toml"
    parity.write_text('source = "lab-x86"\n[[check]]\nid = "A"\nrun = "true"\nnormalise = ["arhc"]\n')
    done = xch("run", "--suite", "migration", "--inventory", str(lab_inventory), "--targets", "lab-arm64",
               "--run-dir", str(tmp_path / "run"), env={"XCH_PARITY_FILE": str(parity)})
    assert done.returncode == 2
    assert f"{parity}: check 'A': field 'normalise': unknown normaliser(s) arhc" in done.stdout + done.stderr
