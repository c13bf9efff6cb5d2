"""Run folders: `results/<run-id>/` with run.json, results.jsonl, junit.xml, facts/ and logs/.

Everything here is written so that killing the run at any moment leaves valid files:
- whole files (run.json, junit.xml, facts/*.json) are written to a temp file, fsynced and renamed;
- results.jsonl only grows, one complete line per `os.write` under an exclusive lock, fsynced;
  a reader that meets a torn last line (the machine lost power mid-write) ignores it and
  `repair_results` cuts it off before a resume appends.
The latest record for a (target, test) wins, so a resumed check supersedes its earlier error
without the error being lost from the file.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.errors import InputError
from harness.core.storage import atomic_write

OUTCOMES = ("passed", "failed", "error", "skipped")
FINAL_OUTCOMES = ("passed", "failed", "skipped")  # what --resume does not run again
RUN_JSON = "run.json"
RESULTS = "results.jsonl"
JUNIT = "junit.xml"


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def new_run_id(suite: str) -> str:
    """Sortable, unique and readable: `20261121T061500Z-smoke-3fa2`."""
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in suite)[:40] or "run"
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{safe}-{secrets.token_hex(2)}"


def append_record(run_dir: Path, record: dict[str, Any]) -> None:
    """Append one JSON line, atomically with respect to other writers (xdist workers) and crashes."""
    line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
    path = run_dir / RESULTS
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _cut_torn_tail(fd)
        written = 0
        while written < len(line):  # a short write (a full disk) must not leave half a line unnoticed
            written += os.write(fd, line[written:])
        os.fsync(fd)
    except OSError:
        _cut_torn_tail(fd)  # leave the file ending on a complete record, then report the problem
        raise
    finally:
        os.close(fd)  # closing releases the lock


def _cut_torn_tail(fd: int) -> None:
    """Under the lock: if the file does not end with a newline, an earlier writer died mid-line;
    cut that fragment off so every line stays a complete record."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    end = size
    while end > 0:  # walk back in chunks to the last newline (a record may be megabytes long)
        start = max(0, end - 1_048_576)
        cut = os.pread(fd, end - start, start).rfind(b"\n")
        if cut >= 0:
            os.ftruncate(fd, start + cut + 1)
            return
        end = start
    os.ftruncate(fd, 0)


@dataclass
class LoadedResults:
    records: list[dict[str, Any]]
    torn_tail: bool  # the last line was incomplete and was ignored


def read_results(run_dir: Path) -> LoadedResults:
    """Every record in file order. A torn *last* line is ignored; a bad line elsewhere is an error."""
    path = run_dir / RESULTS
    if not path.exists():
        return LoadedResults([], False)
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    torn = bool(lines[-1])  # text after the final newline: an interrupted write
    records = []
    for number, line in enumerate(lines[:-1], start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: line {number} is not a valid JSON record: {exc}") from None
    return LoadedResults(records, torn)


def repair_results(run_dir: Path) -> bool:
    """Cut off a torn last line so appends start on a clean line. True if something was cut."""
    path = run_dir / RESULTS
    if not path.exists():
        return False
    raw = path.read_bytes()
    if not raw or raw.endswith(b"\n"):
        return False
    keep = raw.rfind(b"\n") + 1
    with open(path, "r+b") as fh:
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
    return True


def record_key(record: dict[str, Any]) -> tuple[str, str]:
    return (record.get("target", ""), record.get("test_id") or record.get("check_id", ""))


def latest_records(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per (target, test): the last one written wins (resume supersedes errors)."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        latest[record_key(record)] = record
    return sorted(latest.values(), key=lambda r: (r.get("target", ""), r.get("test_id", "")))


def done_keys(run_dir: Path) -> set[tuple[str, str]]:
    """(target, test) pairs whose latest outcome is final: --resume skips these."""
    return {record_key(r) for r in latest_records(read_results(run_dir).records) if r.get("outcome") in FINAL_OUTCOMES}


def check_labels(records: list[dict[str, Any]]) -> list[str]:
    """A name per record for tables and summaries: the check id, with the test's parameters added
    where one check ran several times for a target (a product's several workloads)."""
    seen = Counter((r.get("target", ""), r.get("check_id", "")) for r in records)
    labels = []
    for r in records:
        label = r.get("check_id", "")
        if seen[(r.get("target", ""), label)] > 1:
            params = (r.get("test_id") or "").rpartition("[")[2].rstrip("]").split("-")
            target = r.get("target", "").split("-")
            for i in range(len(params) - len(target) + 1):  # the target's id is not a distinction here
                if params[i:i + len(target)] == target:
                    params = params[:i] + params[i + len(target):]
                    break
            label += "[" + "-".join(params) + "]"
        labels.append(label)
    return labels


def counts(records: Iterable[dict[str, Any]]) -> dict[str, int]:
    c = Counter(r.get("outcome", "error") for r in records)
    return {o: c.get(o, 0) for o in OUTCOMES}


def load_run(run_dir: Path) -> dict[str, Any]:
    path = run_dir / RUN_JSON
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: not a run folder (no run.json)") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read run.json: {exc}") from None


def write_junit(run_dir: Path, records: list[dict[str, Any]]) -> Path:
    """JUnit XML from the latest records (so a resumed run's file covers every attempt)."""
    by_target: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_target.setdefault(record.get("target", ""), []).append(record)
    root = ET.Element("testsuites", name="xch")
    for target, items in sorted(by_target.items()):
        c = counts(items)
        suite = ET.SubElement(root, "testsuite", name=target, tests=str(len(items)), failures=str(c["failed"]),
                              errors=str(c["error"]), skipped=str(c["skipped"]),
                              time=f"{sum(float(r.get('duration_s') or 0) for r in items):.3f}")
        for record in items:
            case = ET.SubElement(suite, "testcase", classname=target,
                                 name=f"{record.get('check_id', '')} {record.get('test_id', '')}".strip(),
                                 time=f"{float(record.get('duration_s') or 0):.3f}")
            outcome = record.get("outcome")
            reason = record.get("reason") or ""
            if outcome == "failed":
                ET.SubElement(case, "failure", message=reason[:500]).text = reason
            elif outcome == "error":
                ET.SubElement(case, "error", message=reason[:500]).text = reason
            elif outcome == "skipped":
                ET.SubElement(case, "skipped", message=reason[:500])
    ET.indent(root)
    path = run_dir / JUNIT
    atomic_write(path, '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n")
    return path


def collect_facts(run_dir: Path) -> dict[str, Any]:
    """facts/<target>.json files written by workers, keyed by target name."""
    facts: dict[str, Any] = {}
    for path in sorted((run_dir / "facts").glob("*.json")):
        try:
            facts[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            facts[path.stem] = {"error": f"unreadable facts file {path.name}"}
    return facts


def exit_code_for(records: Iterable[dict[str, Any]]) -> int:
    """1 if any check failed (the product is at fault), else 3 if any errored, else 0."""
    c = counts(records)
    if c["failed"]:
        return 1
    if c["error"]:
        return 3
    return 0
