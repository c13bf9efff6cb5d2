"""The verdict for one product version on one platform, from its check records and the policy.

compatible: every counted mandatory check passed (and the required ones were present);
conditional: that, but an optional check failed or a performance criterion was missed (conditions listed);
incompatible: a mandatory check failed, i.e. the product is at fault (reasons listed);
pending: nothing conclusive: a mandatory check ended in error (harness or target at fault), a required
check is missing, or no mandatory check passed at all.
The level is `validated` when the security checks (SEC-) all passed as well, else `compatible`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.whitelist.policy import Policy


@dataclass
class Verdict:
    status: str
    level: str | None
    reasons: list[str] = field(default_factory=list)


def _first_line(text: str, limit: int = 300) -> str:
    line = next((part.strip() for part in (text or "").splitlines() if part.strip()), "")
    return line[:limit]


def _describe(record: dict[str, Any], what: str) -> str:
    reason = _first_line(record.get("reason", ""))
    return f"{record['check_id']} {what} on {record['target']}" + (f": {reason}" if reason else "")


def _matches(check_id: str, pattern: str) -> bool:
    return check_id.startswith(pattern) if pattern.endswith("-") else check_id == pattern


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def evaluate(records: list[dict[str, Any]], policy: Policy) -> Verdict:
    counted = [r for r in records if not any(r["check_id"].startswith(p) for p in policy.ignore_prefixes)]
    mandatory = [r for r in counted if r["level"] == "mandatory"]
    failed = [r for r in mandatory if r["outcome"] == "failed"]
    errored = [r for r in mandatory if r["outcome"] == "error"]
    if policy.error_on_mandatory == "incompatible":
        failed, errored = failed + errored, []
    if failed:
        return Verdict("incompatible", None, _unique(_describe(r, r["outcome"]) for r in failed))
    if errored:
        return Verdict("pending", None, _unique(_describe(r, "ended in error (retest)") for r in errored))
    missing = []
    for wanted in policy.required:
        hits = [r for r in counted if _matches(r["check_id"], wanted)]
        if not hits or not any(r["outcome"] == "passed" for r in hits):
            seen = ", ".join(sorted({r["outcome"] for r in hits})) or "not run"
            missing.append(f"required check {wanted} did not pass ({seen})")
    if missing:
        return Verdict("pending", None, missing)
    passed = [r for r in mandatory if r["outcome"] == "passed"]
    if len(passed) < policy.min_mandatory_passed:
        return Verdict("pending", None, [f"only {len(passed)} mandatory check(s) passed; the policy needs "
                                         f"{policy.min_mandatory_passed} (the rest were skipped or not run)"])
    conditions = []
    for r in counted:
        if r["level"] == "optional" and r["outcome"] == "failed":
            conditions.append(_describe(r, "failed (optional)"))
        elif r["level"] == "optional" and r["outcome"] == "error":
            conditions.append(_describe(r, "not verified: ended in error (optional)"))
        for m in r.get("metrics") or []:
            if str(m.get("verdict", "")).lower() in policy.missed_verdicts:
                baseline = m.get("baseline") or {}
                ratio = f", ratio {baseline.get('ratio'):.3g} to {baseline.get('target')}" if isinstance(
                    baseline.get("ratio"), (int, float)) else ""
                conditions.append(f"{r['check_id']} on {r['target']}: {m['name']} {m.get('verdict')} (median "
                                  f"{m.get('median')} {m.get('unit', '')}{ratio})")
    status = "conditional" if conditions else "compatible"
    level = "compatible"
    if status in policy.validated_statuses:
        security = [r for r in counted if r["check_id"].startswith(policy.security_prefix) and r["outcome"] != "skipped"]
        if len(security) >= policy.min_security_checks and all(r["outcome"] == "passed" for r in security):
            level = "validated"
    return Verdict(status, level, _unique(conditions))
