"""Faults a lab meets, produced for real on the lab: dead ports, host keys, hangs, killed sshd and controller."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest

PROJECT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.lab

FAULT_SUITES = Path(__file__).parent / "fault_suites"
LAB_KEY = "/var/lib/xch/lab/id_ed25519"
LAB_KNOWN_HOSTS = "/var/lib/xch/lab/known_hosts"


def inventory(path: Path, *targets: dict) -> Path:
    """Write a small inventory; values are plain strings, ints or bools (json quoting is valid TOML here)."""
    lines = []
    for target in targets:
        lines.append("[[target]]")
        for key, value in target.items():
            lines.append(f"{key} = {json.dumps(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def lab_x86(**overrides) -> dict:
    return {"name": "lab-x86", "host": "127.0.0.3", "port": 2202, "user": "root", "identity_file": LAB_KEY,
            "known_hosts": LAB_KNOWN_HOSTS, **overrides}


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines() if line]


def wait_for_records(run_dir: Path, target: str, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (run_dir / "results.jsonl").exists() and sum(r["target"] == target for r in records(run_dir)) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"{target} did not reach {count} records in {timeout}s")


class SpareSshd:
    """An extra sshd chrooted into the lab's amd64 image on its own port: ours to kill."""

    def __init__(self, tmp_path: Path) -> None:
        from harness import lab
        from harness.lab import sshd

        self.root = lab.lab_dir() / "images" / "bookworm-amd64"
        self.host = "127.0.0.3"
        self.port = free_port(self.host)
        self.pidfile = f"/run/sshd.fault-{self.port}.pid"
        self.known_hosts = tmp_path / "spare_known_hosts"
        self.known_hosts.write_text("\n".join(sshd.host_key_lines(self.root, self.host, self.port)) + "\n")

    def target(self) -> dict:
        return {"name": "spare-x86", "host": self.host, "port": self.port, "user": "root", "identity_file": LAB_KEY,
                "known_hosts": str(self.known_hosts), "connect_timeout": 3}

    def start(self) -> None:
        subprocess.run(["chroot", str(self.root), "/usr/sbin/sshd", "-p", str(self.port), "-o",
                        f"ListenAddress={self.host}", "-o", "UsePAM=no", "-o", f"PidFile={self.pidfile}",
                        "-o", "PasswordAuthentication=no"], check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=2) as sock:
                    if sock.recv(8).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("spare sshd did not answer")

    def kill(self) -> None:
        """SIGKILL the listener and every session it forked: the target's sshd dies mid-run."""
        pidfile = self.root / self.pidfile.lstrip("/")
        if not pidfile.exists():
            return
        pid = int(pidfile.read_text())
        try:
            listener = psutil.Process(pid)
            for proc in [listener, *listener.children(recursive=True)]:
                proc.kill()
        except psutil.NoSuchProcess:
            pass
        pidfile.unlink(missing_ok=True)


@pytest.fixture
def spare_sshd(lab_inventory, tmp_path):
    sshd = SpareSshd(tmp_path)
    sshd.start()
    yield sshd
    sshd.kill()


def test_unreachable_port_gives_one_clear_error_per_check(lab_inventory, xch, tmp_path):
    dead_port = free_port("127.0.0.1")
    inv = inventory(tmp_path / "inv.toml", lab_x86(),
                    {"name": "dead", "host": "127.0.0.1", "port": dead_port, "user": "root", "identity_file": LAB_KEY,
                     "known_hosts": LAB_KNOWN_HOSTS, "connect_timeout": 2})
    checked = xch("targets", "check", "--inventory", str(inv), "--json")
    assert checked.rc == 3
    rows = {r["name"]: r for r in checked.json()}
    assert rows["lab-x86"]["reachable"] and not rows["dead"]["reachable"]
    assert f"127.0.0.1:{dead_port}" in rows["dead"]["error"] and "connection refused" in rows["dead"]["error"]

    run_dir = tmp_path / "run"
    done = xch("run", "--suite", "smoke", "--inventory", str(inv), "-n", "2", "--run-dir", str(run_dir), "--json")
    assert done.rc == 3, done.stderr
    by_target = {}
    for r in records(run_dir):
        by_target.setdefault(r["target"], []).append(r)
    assert [r["outcome"] for r in by_target["lab-x86"]] == ["passed"] * 4
    assert [r["outcome"] for r in by_target["dead"]] == ["error"] * 4
    for r in by_target["dead"]:
        assert r["reason"].startswith("target unreachable: dead (root@127.0.0.1:") and "connection refused" in r["reason"]
        assert "Traceback" not in r["reason"] and len(r["reason"]) < 300


def test_unknown_host_key_is_refused_unless_tofu_then_recorded(lab_inventory, xch, tmp_path):
    known = tmp_path / "known_hosts"
    strict = inventory(tmp_path / "strict.toml", lab_x86(known_hosts=str(known)))
    refused = xch("targets", "check", "--inventory", str(strict), "--json")
    assert refused.rc == 3
    error = refused.json()[0]["error"]
    assert "unknown host key for [127.0.0.3]:2202" in error and "SHA256:" in error and "tofu" in error
    assert not known.exists() or known.read_text() == ""

    tofu = inventory(tmp_path / "tofu.toml", lab_x86(known_hosts=str(known), host_key_policy="tofu"))
    accepted = xch("targets", "check", "--inventory", str(tofu), "--json")
    assert accepted.rc == 0 and accepted.json()[0]["reachable"]
    recorded = known.read_text()
    lab_keys = Path(LAB_KNOWN_HOSTS).read_text()
    assert recorded.startswith("[127.0.0.3]:2202 ")
    assert recorded.split()[2] in lab_keys  # the very key the lab generated
    again = xch("targets", "check", "--inventory", str(strict), "--json")  # now known: strict passes
    assert again.rc == 0


def test_changed_host_key_is_always_refused(lab_inventory, xch, tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "impostor")], check=True)
    impostor = (tmp_path / "impostor.pub").read_text().split()
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.3]:2202 {impostor[0]} {impostor[1]}\n")
    inv = inventory(tmp_path / "inv.toml", lab_x86(known_hosts=str(known), host_key_policy="tofu"))
    refused = xch("targets", "check", "--inventory", str(inv), "--json")
    assert refused.rc == 3
    assert "HOST KEY CHANGED" in refused.json()[0]["error"]
    assert known.read_text().count("\n") == 1  # nothing was added or replaced


def test_hung_command_ends_as_timeout_error_and_the_target_runs_on(lab_inventory, xch, tmp_path):
    run_dir = tmp_path / "run"
    seconds = f"600.{secrets.randbelow(10**6):06d}"
    done = xch("run", "--suite", str(FAULT_SUITES / "test_hang.py"), "--inventory", str(lab_inventory),
               "--targets", "lab-arm64", "--run-dir", str(run_dir), "--json", env={"XCH_HANG_SECONDS": seconds})
    assert done.rc == 3
    by_check = {r["check_id"]: r for r in records(run_dir)}
    assert by_check["FAULT-HANG-001"]["outcome"] == "error"
    assert "timed out" in by_check["FAULT-HANG-001"]["reason"]
    assert by_check["FAULT-HANG-001"]["duration_s"] < 60
    assert by_check["FAULT-HANG-002"]["outcome"] == "passed"
    leftovers = subprocess.run(["pgrep", "-f", f"sleep {seconds}"], capture_output=True, text=True).stdout
    assert leftovers == "", "the hung command's process was not killed on the target"
    assert "TIMED-OUT" in (run_dir / "logs" / "lab-arm64" / "commands.log").read_text()


def test_check_timeout_bounds_a_check_that_hangs_in_python(lab_inventory, xch, tmp_path):
    run_dir = tmp_path / "run"
    done = xch("run", "--suite", str(FAULT_SUITES / "test_python_hang.py"), "--inventory", str(lab_inventory),
               "--targets", "lab-x86", "--run-dir", str(run_dir), "--json", "--", "--check-timeout", "2")
    assert done.rc == 3, done.stderr
    (record,) = records(run_dir)
    assert record["outcome"] == "error" and "exceeded --check-timeout of 2s" in record["reason"]
    assert record["duration_s"] < 60


def test_a_crashed_worker_is_an_error_record_and_never_a_pass(lab_inventory, xch, tmp_path):
    run_dir = tmp_path / "run"
    done = xch("run", "--suite", str(FAULT_SUITES / "test_crash.py"), "--inventory", str(lab_inventory),
               "--targets", "lab-x86", "-n", "1", "--run-dir", str(run_dir), "--json")
    assert done.rc == 3, done.stdout + done.stderr
    by_check = {r["check_id"]: r for r in records(run_dir)}
    crashed = next(r for r in by_check.values() if "crashed" in r["reason"])
    assert crashed["outcome"] == "error" and crashed["target"] == "lab-x86"
    assert "test_a_worker_dies" in crashed["test_id"]
    assert by_check["FAULT-CRASH-002"]["outcome"] == "passed"  # xdist restarts the worker and goes on


def test_a_check_cut_off_mid_command_leaves_the_next_check_a_clean_shell(lab_inventory, xch, tmp_path):
    run_dir = tmp_path / "run"
    done = xch("run", "--suite", str(FAULT_SUITES / "test_interrupted.py"), "--inventory", str(lab_inventory),
               "--targets", "lab-x86", "--run-dir", str(run_dir), "--json", "--", "--check-timeout", "1")
    by_check = {r["check_id"]: r for r in records(run_dir)}
    assert by_check["FAULT-INTR-001"]["outcome"] == "error" and "check-timeout" in by_check["FAULT-INTR-001"]["reason"]
    assert by_check["FAULT-INTR-002"]["outcome"] == "passed", by_check["FAULT-INTR-002"]["reason"]
    assert done.rc == 3


def test_no_selected_checks_and_a_reused_run_folder_are_input_errors(lab_inventory, xch, tmp_path):
    none = xch("run", "--suite", "smoke", "--inventory", str(lab_inventory), "--targets", "lab-x86",
               "--run-dir", str(tmp_path / "none"), "--", "-k", "no_such_check")
    assert none.rc == 2 and "selected no checks" in none.stderr
    run_dir = tmp_path / "run"
    first = xch("run", "--suite", "smoke", "--inventory", str(lab_inventory), "--targets", "lab-x86",
                "--run-dir", str(run_dir))
    assert first.rc == 0
    again = xch("run", "--suite", "smoke", "--inventory", str(lab_inventory), "--targets", "lab-x86",
                "--run-dir", str(run_dir))
    assert again.rc == 2 and "already holds a run" in again.stderr
    assert len(records(run_dir)) == 4  # the earlier run's records untouched


def test_file_transfer_works_again_after_a_reconnect(lab_inventory, tmp_path):
    from harness.inventory import load_inventory
    from harness.transport import open_connection

    inv = load_inventory([lab_inventory])
    conn = open_connection(inv.get("lab-x86"), inv)
    try:
        local = tmp_path / "f.txt"
        local.write_text("one")
        conn.put(local, "/tmp/xch-reconnect-probe")
        conn._client.get_transport().close()  # the connection drops (as when sshd restarts)
        assert conn.run("echo back").stdout == "back\n"  # reconnects
        local.write_text("two")
        conn.put(local, "/tmp/xch-reconnect-probe")  # SFTP must not reuse the dead session
        assert conn.run("cat /tmp/xch-reconnect-probe; rm -f /tmp/xch-reconnect-probe").stdout == "two"
    finally:
        conn.close()


def test_jump_host_reaches_a_target_through_another(lab_inventory, xch, tmp_path):
    inv = inventory(tmp_path / "inv.toml", lab_x86(),
                    {"name": "arm-via-jump", "host": "127.0.0.2", "port": 2201, "user": "root", "identity_file": LAB_KEY,
                     "known_hosts": LAB_KNOWN_HOSTS, "jump": "lab-x86"})
    done = xch("targets", "check", "--inventory", str(inv), "--targets", "arm-via-jump", "--json")
    assert done.rc == 0, done.stdout + done.stderr
    assert done.json()[0]["facts"]["arch"] == "aarch64"


def test_sshd_killed_mid_run_then_resume_completes_without_duplicates(lab_inventory, spare_sshd, tmp_path):
    inv = inventory(tmp_path / "inv.toml", spare_sshd.target())
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "harness.cli", "run", "--suite", str(FAULT_SUITES / "test_slow.py"),
           "--inventory", str(inv), "--inventory", str(lab_inventory), "--targets", "spare-x86,lab-arm64",
           "-n", "2", "--run-dir", str(run_dir), "--json"]
    proc = subprocess.Popen(cmd, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_records(run_dir, "spare-x86", 3)
    spare_sshd.kill()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 3, err

    first = records(run_dir)
    spare = [r for r in first if r["target"] == "spare-x86"]
    assert len({r["test_id"] for r in spare}) == 10, "every check of the broken target has a record"
    passed_before = {r["test_id"] for r in spare if r["outcome"] == "passed"}
    errored = [r for r in spare if r["outcome"] == "error"]
    assert len(passed_before) >= 3 and errored
    for r in errored:
        assert "connection lost" in r["reason"] or "unreachable" in r["reason"], r["reason"]
    assert [r["outcome"] for r in first if r["target"] == "lab-arm64"] == ["passed"] * 10

    spare_sshd.start()
    resumed = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--resume", str(run_dir), "--json"],
                             cwd=PROJECT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["totals"] == {"passed": 20, "failed": 0, "error": 0, "skipped": 0}
    after = records(run_dir)
    assert after[: len(first)] == first, "records written before the fault were changed"
    new = after[len(first):]
    assert {r["target"] for r in new} == {"spare-x86"}, "resume re-ran checks that had already finished"
    assert {r["test_id"] for r in new} == {r["test_id"] for r in errored}
    passes = Counter(r["test_id"] for r in after if r["outcome"] == "passed")
    assert set(passes.values()) == {1}
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "finished" and len(run["attempts"]) == 2 and run["attempts"][1]["resume"]


def test_controller_killed_mid_run_leaves_a_valid_folder_that_resumes(lab_inventory, tmp_path):
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "harness.cli", "run", "--suite", str(FAULT_SUITES / "test_slow.py"),
           "--inventory", str(lab_inventory), "--targets", "lab-x86", "--run-dir", str(run_dir)]
    proc = subprocess.Popen(cmd, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    wait_for_records(run_dir, "lab-x86", 3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()

    run = json.loads((run_dir / "run.json").read_text())  # valid JSON, marked as not finished
    assert run["status"] == "running" and "ended_at" not in run
    before = records(run_dir)
    assert 3 <= len(before) < 10 and all(r["outcome"] == "passed" for r in before)

    resumed = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--resume", str(run_dir), "--json"],
                             cwd=PROJECT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    after = records(run_dir)
    assert after[: len(before)] == before
    assert sorted(Counter(r["test_id"] for r in after).values()) == [1] * 10, "a check ran twice or not at all"


def test_secrets_never_reach_results_or_logs(lab_inventory, xch, tmp_path):
    secret = "S3cret-Pa55phrase-for-xch"
    inv = inventory(tmp_path / "inv.toml", lab_x86(password_env="XCH_TEST_PASSWORD"))
    run_dir = tmp_path / "run"
    done = xch("run", "--suite", str(FAULT_SUITES / "test_secret.py"), "--inventory", str(inv),
               "--run-dir", str(run_dir), env={"XCH_TEST_PASSWORD": secret})
    assert done.rc == 1  # the check fails on purpose, quoting output that contains the password
    texts = {p: p.read_text(errors="replace") for p in run_dir.rglob("*") if p.is_file()}
    assert texts, "no run files"
    for path, text in texts.items():
        assert secret not in text, f"secret written to {path}"
    assert "********" in texts[run_dir / "logs" / "lab-x86" / "commands.log"]
    assert "********" in texts[run_dir / "results.jsonl"]
    assert secret not in done.stdout + done.stderr


def test_malformed_inventory_and_empty_selection_are_input_errors(lab_inventory, xch, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[target]]\nname = "x"\nhost = "h"\nport = "twenty-two"\n')
    done = xch("targets", "list", "--inventory", str(bad))
    assert done.rc == 2
    assert f"{bad}: target 'x': field 'port' must be an integer" in done.stderr and "Traceback" not in done.stderr
    none = xch("run", "--suite", "smoke", "--inventory", str(lab_inventory), "--targets", "role=nothing")
    assert none.rc == 2 and "no target matches --targets role=nothing" in none.stderr
    suite = xch("run", "--suite", "no-such-suite", "--inventory", str(lab_inventory))
    assert suite.rc == 2 and "no such suite" in suite.stderr
