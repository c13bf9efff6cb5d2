"""Migration inputs of the report: `xch scan --format json` files, `xch migrate assess --json` files and
parity run folders (`xch run --suite migration`).

These do not live in the whitelist database (a scan or an assessment is not about a product version),
so the report reads them from the files the commands wrote. Each file is checked for the fields the
page needs; a wrong file is bad input naming the file and the field (exit code 2), never a half page.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from harness import runs as runlib
from harness.core.errors import InputError


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file (expected {what})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a JSON file ({exc}); expected {what}") from None


def _need(path: Path, data: Any, fields: dict[str, Any], what: str) -> None:
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object ({what})")
    for name, kind in fields.items():
        if name not in data:
            raise InputError(f"{path}: field {name!r} missing; expected {what}")
        if not isinstance(data[name], kind) or (kind is not bool and isinstance(data[name], bool)):
            expected = "number" if isinstance(kind, tuple) else {"list": "list", "dict": "object", "bool": "boolean"}.get(
                kind.__name__, kind.__name__)
            raise InputError(f"{path}: field {name!r} must be a {expected}; expected {what}")


def load_scan(path: Path) -> dict[str, Any]:
    """A scan report: findings grouped by rule and by file, with the effort estimate."""
    what = "the output of `xch scan --format json`"
    data = _read_json(path, what)
    _need(path, data, {"findings": list, "summary": dict}, what)
    by_rule: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_file: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for number, f in enumerate(data["findings"], start=1):
        if not isinstance(f, dict) or not all(k in f for k in ("rule", "severity", "file")):
            raise InputError(f"{path}: findings[{number}]: expected an object with rule, severity and file")
        by_rule[str(f["rule"])].append(f)
        by_file[str(f["file"])].append(f)
    summary = data["summary"]
    effort = summary.get("effort_by_file") or {}
    return {
        "path": str(path), "root": summary.get("root", ""), "target_arch": summary.get("target_arch", ""),
        "target_os": summary.get("target_os", ""), "files_scanned": summary.get("files_scanned", 0),
        "by_severity": summary.get("by_severity") or dict(Counter(f["severity"] for f in data["findings"])),
        "effort_total_hours": summary.get("effort_total_hours"),
        "rules": sorted(by_rule.items(), key=lambda kv: (-len(kv[1]), kv[0])),
        "files": sorted(((name, items, (effort.get(name) or {}).get("hours")) for name, items in by_file.items()),
                        key=lambda x: (-len(x[1]), x[0])),
        "findings": len(data["findings"]),
    }


def load_assessment(path: Path) -> dict[str, Any]:
    what = "the output of `xch migrate assess --json`"
    data = _read_json(path, what)
    _need(path, data, {"source": dict, "target": dict, "blockers": list, "warnings": list, "score": (int, float),
                       "ready": bool}, what)
    return {"path": str(path), "source": data["source"], "target": data["target"], "score": data["score"],
            "ready": data["ready"], "blockers": data["blockers"], "warnings": data["warnings"],
            "areas": data.get("areas") or {}, "notes": data.get("notes") or []}


def load_parity(run_dir: Path) -> dict[str, Any]:
    """Differences of a parity run: failed PARITY checks with their side-by-side lines."""
    info = runlib.load_run(run_dir)
    latest = runlib.latest_records(runlib.read_results(run_dir).records)
    diffs, same = [], 0
    for r in latest:
        if r.get("outcome") == "failed":
            ev = r.get("evidence") or {}
            rows = ev.get("side_by_side_stdout") or ev.get("side_by_side_stderr") or []
            diffs.append({"check_id": r.get("check_id", ""), "name": ev.get("name", ""), "target": r.get("target", ""),
                          "source": (ev.get("source") or {}).get("target", ""), "reason": r.get("reason", ""),
                          "rows": rows[:50], "more": max(0, len(rows) - 50)})
        elif r.get("outcome") == "passed":
            same += 1
    return {"path": str(run_dir), "run_id": info.get("run_id", run_dir.name), "differences": diffs, "same": same}


def load_all(scans: list[Path], assessments: list[Path], parity_runs: list[Path]) -> dict[str, Any]:
    return {"scans": [load_scan(p) for p in scans], "assessments": [load_assessment(p) for p in assessments],
            "parity": [load_parity(p) for p in parity_runs]}
