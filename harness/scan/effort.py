"""Effort estimate per file: a rough number of hours, so a team can plan who ports what.

Each rule has a cost for its first finding in a file and a smaller cost for each further one
(fifty intrinsic calls in one kernel are one porting job, not fifty). Informational findings
cost nothing. The estimate is an order of magnitude, and labelled as such in reports.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from harness.scan.rules import RULES

SIZES = ((0.0, "none"), (1.0, "trivial"), (8.0, "small"), (40.0, "medium"), (float("inf"), "large"))


def size_class(hours: float) -> str:
    for limit, name in SIZES:
        if hours <= limit:
            return name
    return "large"


def effort_by_file(findings: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """{file: {"hours": h, "size": class, "blockers": n, "warnings": n}} for files with work to do."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    severities: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for f in findings:
        severities[f.file][f.severity] += 1
        if f.severity != "info":
            counts[f.file][f.rule] += 1
    out: dict[str, dict[str, Any]] = {}
    for file in sorted(counts):
        hours = 0.0
        for rule_id, n in counts[file].items():
            r = RULES[rule_id]
            hours += r.effort_first + r.effort_more * (n - 1)
        hours = round(hours, 1)
        out[file] = {"hours": hours, "size": size_class(hours),
                     "blockers": severities[file]["blocker"], "warnings": severities[file]["warning"]}
    return out


def total_effort(per_file: dict[str, dict[str, Any]]) -> float:
    return round(sum(v["hours"] for v in per_file.values()), 1)
