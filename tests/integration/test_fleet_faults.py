"""Faults across a fleet, produced for real: a killed sshd, a cut network link, slow and flooding targets.

The fleet is tests/support/labfleet.py: extra sshds chrooted into the lab's amd64 image, on loopback or each
in a network namespace these tests create (a veth pair with a private 10.213.X.0/30; traffic only
goes to addresses of our own namespaces). A cut link is the namespace end of the veth taken down:
no RST, packets vanish, exactly what a pulled cable or a dead switch port does. Needs root.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
SLOW_SUITE = HERE / "fault_suites" / "test_slow.py"  # ten checks of `sleep 1`
NOISY_SUITE = HERE / "fleet_noisy_suite.py"
TRANSFER_SUITE = HERE / "fleet_transfer_suite.py"

pytestmark = pytest.mark.lab


@pytest.fixture
def fleet(lab_inventory, tmp_path):
    """make(size, **LabFleet options) -> a started LabFleet; every fleet is removed at the end."""
    from labfleet import LabFleet

    if os.geteuid() != 0:
        message = "fleet fault tests start sshds and network namespaces: they need root"
        if os.environ.get("XCH_REQUIRE_LAB") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    made: list[LabFleet] = []

    def make(size: int, **options) -> LabFleet:
        fleet = LabFleet(size, tmp_path / f"fleet{len(made)}", **options)
        made.append(fleet)  # before start(): a half-started fleet is cleaned up too
        fleet.start()
        return fleet

    yield make
    for fleet in made:
        fleet.close()


def start_xch(*args: object, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness.cli", *map(str, args)], cwd=PROJECT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, **(env or {})})


def finish(proc: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """Wait for an xch run; if it does not end in `timeout` s, kill its process group and fail."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"xch run did not end within {timeout:g}s (killed); stderr tail:\n{err[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


def run_xch(*args: object, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *map(str, args)], cwd=PROJECT,
                          capture_output=True, text=True, timeout=timeout)


def records(run_dir: Path) -> list[dict]:
    path = run_dir / "results.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line] if path.exists() else []


def wait_for_records(run_dir: Path, wanted: dict[str, int], proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = Counter(r["target"] for r in records(run_dir))
        if all(counts[name] >= n for name, n in wanted.items()):
            return
        if proc.poll() is not None:
            raise AssertionError(f"xch run ended early ({proc.returncode}): {proc.stderr.read()[-2000:]}")
        time.sleep(0.05)
    raise AssertionError(f"targets did not reach {wanted} records in {timeout}s")


def by_target(recs: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in recs:
        out.setdefault(r["target"], []).append(r)
    return out


def test_killed_sshd_and_cut_link_stay_contained_and_resume(fleet, tmp_path):
    # Short connect and command timeouts: a cut link sends no RST, so only timeouts end the waits.
    f = fleet(4, netns={3}, connect_timeout=3, command_timeout=5)
    healthy, killed, cut = f.members[:2], f[2], f[3]
    run_dir = tmp_path / "run"
    proc = start_xch("run", "--suite", SLOW_SUITE, "--inventory", f.inventory(), "-n", "4",
                     "--run-dir", run_dir, "--json")
    try:
        wait_for_records(run_dir, {killed.name: 3, cut.name: 3}, proc)
        f.kill_sshd(killed)
        f.link(cut, up=False)
        _, err = finish(proc, timeout=180)  # bounded: every wait on the cut link has a timeout
    finally:
        stop(proc)
    assert proc.returncode == 3, err

    first = records(run_dir)
    groups = by_target(first)
    for m in healthy:  # every other target's results are complete
        assert [r["outcome"] for r in groups[m.name]] == ["passed"] * 10, m.name
    errored: list[dict] = []
    for m in (killed, cut):
        mine = groups[m.name]
        assert len(mine) == 10 and len({r["test_id"] for r in mine}) == 10, "one record per check, no duplicates"
        passed = [r for r in mine if r["outcome"] == "passed"]
        failed = [r for r in mine if r["outcome"] not in ("passed", "error")]
        assert len(passed) >= 3 and not failed, [(r["outcome"], r["reason"]) for r in mine]
        for r in mine:
            if r["outcome"] == "error":
                errored.append(r)
                assert m.name in r["reason"] and "Traceback" not in r["reason"] and len(r["reason"]) < 400, r["reason"]
    killed_reasons = [r["reason"] for r in errored if r["target"] == killed.name]
    cut_reasons = [r["reason"] for r in errored if r["target"] == cut.name]
    assert killed_reasons and cut_reasons
    print("killed sshd:", *killed_reasons, "cut link:", *cut_reasons, sep="\n  ")
    # The dead sshd's EOF is seen at once (or, between two commands, as a refused reconnect).
    assert "connection lost" in killed_reasons[0] or "connection refused" in killed_reasons[0], killed_reasons[0]
    for reason in killed_reasons[1:]:
        assert "unreachable" in reason and "connection refused" in reason, reason
    # The cut link is only noticed by timeouts: the command's (no channel opens to kill it, so the
    # target "stopped answering"), then connecting.
    assert "stopped answering" in cut_reasons[0] and "no channel could be opened" in cut_reasons[0], cut_reasons[0]
    for reason in cut_reasons[1:]:
        assert "unreachable" in reason or "cannot open a remote shell" in reason, reason
    assert "unreachable" in cut_reasons[-1], cut_reasons[-1]  # later checks fail fast, not one timeout each

    f.start_sshd(killed)
    f.link(cut, up=True)
    resumed = run_xch("run", "--resume", run_dir, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["totals"] == {"passed": 40, "failed": 0, "error": 0, "skipped": 0}
    after = records(run_dir)
    assert after[: len(first)] == first, "records written before the fault were changed or lost"
    new = after[len(first):]
    assert sorted((r["target"], r["test_id"]) for r in new) == sorted((r["target"], r["test_id"]) for r in errored)
    assert all(r["outcome"] == "passed" for r in new)
    passes = Counter((r["target"], r["test_id"]) for r in after if r["outcome"] == "passed")
    assert len(passes) == 40 and set(passes.values()) == {1}, "a check passed twice or never"
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "finished" and [a["resume"] for a in run["attempts"]] == [False, True]


def test_slow_and_flooding_targets_do_not_hold_up_the_others(fleet, tmp_path):
    # The noisy targets sort first, so had xch run targets one after another, the quiet ones would wait.
    f = fleet(4, labels={0: {"noise": "slow"}, 1: {"noise": "flood"}})
    slow, flood, quiet = f[0], f[1], f.members[2:]
    base_dir, noisy_dir = tmp_path / "baseline", tmp_path / "noisy"
    base = run_xch("run", "--suite", NOISY_SUITE, "--inventory", f.inventory(tmp_path / "quiet.toml", quiet),
                   "-n", "2", "--run-dir", base_dir, "--json")
    assert base.returncode == 0, base.stderr
    noisy = run_xch("run", "--suite", NOISY_SUITE, "--inventory", f.inventory(), "-n", "4",
                    "--run-dir", noisy_dir, "--json")
    assert noisy.returncode == 0, noisy.stderr + noisy.stdout  # the slow and flooding targets pass too

    baseline, recs = records(base_dir), records(noisy_dir)
    groups = by_target(recs)
    for m in quiet:  # complete: the same checks, the same outcomes as without the noisy targets
        assert sorted((r["test_id"], r["outcome"]) for r in groups[m.name]) == \
            sorted((r["test_id"], r["outcome"]) for r in baseline if r["target"] == m.name)
    for r in groups[flood.name]:
        assert r["evidence"]["kept_bytes"] == 8 * 2**20 and r["evidence"]["dropped_bytes"] > 0

    # Independence, by order: results.jsonl is appended as each check ends, so every quiet
    # target's checks ended while the slow and the flooding target were still at work.
    position = {id(r): i for i, r in enumerate(recs)}
    last_quiet = max(position[id(r)] for m in quiet for r in groups[m.name])
    assert last_quiet < position[id(groups[slow.name][-1])], "quiet targets waited for the slow one"
    assert last_quiet < position[id(groups[flood.name][-1])], "quiet targets waited for the flooding one"
    # ... and by cost: no quiet target absorbed the noisy targets' time (its checks together took
    # less than the slow target's sleeps or the flood's transfers alone; each noisy check >= 1 s).
    spent = {m.name: sum(r["duration_s"] for r in groups[m.name]) for m in f.members}
    base_spent = {m.name: sum(r["duration_s"] for r in baseline if r["target"] == m.name) for m in quiet}
    print(f"check time per target, baseline {base_spent} / with noisy targets {spent}")
    for m in quiet:
        assert spent[m.name] < min(spent[slow.name], spent[flood.name]), spent


def test_file_transfer_on_a_cut_link_ends_in_bounded_time(fleet, tmp_path):
    f = fleet(1, netns={0}, connect_timeout=3, command_timeout=5)
    flag, run_dir = tmp_path / "go", tmp_path / "run"
    proc = start_xch("run", "--suite", TRANSFER_SUITE, "--inventory", f.inventory(), "--run-dir", run_dir,
                     "--json", env={"XCH_FLEET_FLAG": str(flag)})
    try:
        wait_for_records(run_dir, {f[0].name: 1}, proc)
        f.link(f[0], up=False)
        flag.touch()
        finish(proc, timeout=30)  # with a 5 s command timeout, well within 30 s
    finally:
        stop(proc)
    outcomes = {r["check_id"]: r for r in records(run_dir)}
    assert outcomes["FLEET-XFER-001"]["outcome"] == "passed"
    assert outcomes["FLEET-XFER-002"]["outcome"] == "error"


def test_cut_link_is_not_reported_as_connection_refused(fleet, tmp_path):
    f = fleet(1, netns={0})  # the default connect_timeout (10 s) outlasts ARP's failure (~3 s)
    f.link(f[0], up=False)
    checked = run_xch("targets", "check", "--inventory", f.inventory(), "--json", timeout=120)
    assert checked.returncode == 3
    error = json.loads(checked.stdout)[0]["error"]
    assert "unreachable" in error and "connection refused" not in error, error
    assert "no route to host" in error or "timed out" in error, error
