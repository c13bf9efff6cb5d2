"""Run folder files: atomic, append-only, torn-tail tolerant, latest record wins."""

from __future__ import annotations

import json
import multiprocessing
import xml.etree.ElementTree as ET

import pytest

from harness import runs
from harness.core.errors import InputError
from harness.core.storage import atomic_write_json


def rec(target, test, outcome, **extra):
    return {"run_id": "r", "target": target, "test_id": test, "check_id": test.upper(), "level": "mandatory",
            "outcome": outcome, "reason": extra.pop("reason", ""), "duration_s": 0.1, **extra}


def test_append_and_read_back(tmp_path):
    runs.append_record(tmp_path, rec("a", "t1", "passed"))
    runs.append_record(tmp_path, rec("a", "t2", "failed", reason="boom ✗"))
    loaded = runs.read_results(tmp_path)
    assert [r["outcome"] for r in loaded.records] == ["passed", "failed"]
    assert loaded.records[1]["reason"] == "boom ✗" and not loaded.torn_tail


def test_torn_last_line_is_ignored_then_repaired(tmp_path):
    runs.append_record(tmp_path, rec("a", "t1", "passed"))
    with open(tmp_path / runs.RESULTS, "ab") as fh:
        fh.write(b'{"run_id": "r", "target": "a", "outc')  # a write interrupted by a crash
    loaded = runs.read_results(tmp_path)
    assert len(loaded.records) == 1 and loaded.torn_tail
    assert runs.repair_results(tmp_path) is True
    runs.append_record(tmp_path, rec("a", "t2", "passed"))
    assert [r["test_id"] for r in runs.read_results(tmp_path).records] == ["t1", "t2"]
    assert runs.repair_results(tmp_path) is False


def test_corrupt_line_in_the_middle_is_an_error_naming_the_line(tmp_path):
    (tmp_path / runs.RESULTS).write_text('{"a": 1}\nnot json\n{"b": 2}\n')
    with pytest.raises(InputError, match="line 2 is not a valid JSON record"):
        runs.read_results(tmp_path)


def test_latest_record_wins_and_done_keys(tmp_path):
    for r in (rec("a", "t1", "error"), rec("a", "t2", "passed"), rec("b", "t1", "skipped"), rec("a", "t1", "passed"),
              rec("b", "t2", "error")):
        runs.append_record(tmp_path, r)
    latest = runs.latest_records(runs.read_results(tmp_path).records)
    assert {(r["target"], r["test_id"]): r["outcome"] for r in latest} == {
        ("a", "t1"): "passed", ("a", "t2"): "passed", ("b", "t1"): "skipped", ("b", "t2"): "error"}
    assert runs.done_keys(tmp_path) == {("a", "t1"), ("a", "t2"), ("b", "t1")}


def test_exit_code_priorities():
    assert runs.exit_code_for([rec("a", "1", "passed"), rec("a", "2", "skipped")]) == 0
    assert runs.exit_code_for([rec("a", "1", "passed"), rec("a", "2", "error")]) == 3
    assert runs.exit_code_for([rec("a", "1", "failed"), rec("a", "2", "error")]) == 1


def _writer(path, worker, count):
    for i in range(count):
        runs.append_record(path, rec(f"w{worker}", f"t{i}", "passed", evidence={"pad": "x" * 3000}))


def test_concurrent_appends_from_processes_never_interleave(tmp_path):
    procs = [multiprocessing.Process(target=_writer, args=(tmp_path, w, 100)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    lines = (tmp_path / runs.RESULTS).read_bytes().splitlines()
    assert len(lines) == 400
    assert all(json.loads(line)["outcome"] == "passed" for line in lines)


def test_atomic_write_json_leaves_no_temp_files(tmp_path):
    atomic_write_json(tmp_path / "run.json", {"x": "信创"})
    atomic_write_json(tmp_path / "run.json", {"x": 2})
    assert json.loads((tmp_path / "run.json").read_text()) == {"x": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_junit_counts_match_records(tmp_path):
    records = [rec("a", "t1", "passed"), rec("a", "t2", "failed", reason="bad <xml> & stuff"), rec("b", "t1", "error"),
               rec("b", "t2", "skipped", reason="n/a")]
    root = ET.parse(runs.write_junit(tmp_path, records)).getroot()
    suites = {s.get("name"): s for s in root}
    assert suites["a"].get("failures") == "1" and suites["a"].get("tests") == "2"
    assert suites["b"].get("errors") == "1" and suites["b"].get("skipped") == "1"
    assert suites["a"].find("testcase/failure").get("message") == "bad <xml> & stuff"


def test_load_run_errors_are_clear(tmp_path):
    with pytest.raises(InputError, match="not a run folder"):
        runs.load_run(tmp_path)
    (tmp_path / "run.json").write_text("{")
    with pytest.raises(InputError, match="cannot read run.json"):
        runs.load_run(tmp_path)


def test_append_cuts_a_torn_tail_left_by_a_crashed_writer(tmp_path):
    """Without --resume too: the next writer repairs the file under the lock before appending."""
    runs.append_record(tmp_path, rec("a", "t1", "passed"))
    with open(tmp_path / runs.RESULTS, "ab") as fh:
        fh.write(b'{"run_id": "r", "target": "a", "outc' + b"x" * 2_000_000)  # torn, longer than one chunk
    runs.append_record(tmp_path, rec("a", "t2", "passed"))
    loaded = runs.read_results(tmp_path)
    assert [r["test_id"] for r in loaded.records] == ["t1", "t2"] and not loaded.torn_tail


def test_check_labels_tell_repeated_checks_apart_without_the_target():
    records = [{"target": "lab-arm64", "check_id": "PERF-WL-001",
                "test_id": "suites/perf/test_product.py::test_product_workload[lab-arm64-set-get]"},
               {"target": "lab-arm64", "check_id": "PERF-WL-001",
                "test_id": "suites/perf/test_product.py::test_product_workload[lab-arm64-lpush]"},
               {"target": "lab-x86", "check_id": "PERF-WL-001",
                "test_id": "suites/perf/test_product.py::test_product_workload[lab-x86-set-get]"},
               {"target": "lab-arm64", "check_id": "COMPAT-INSTALL-001", "test_id": "x::test_install[lab-arm64]"}]
    assert runs.check_labels(records) == ["PERF-WL-001[set-get]", "PERF-WL-001[lpush]", "PERF-WL-001",
                                          "COMPAT-INSTALL-001"]
