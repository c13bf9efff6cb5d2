"""whitelist/policy.toml: the certification rules, loaded and checked field by field.

Kept as data (not code) so a lab changes what "compatible" means without touching xch, and the
digest of the policy a verdict was made under can be recorded with the entry's audit record.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.errors import InputError
from harness.core.paths import project_dir
from harness.core.problems import TEXT_CHARS, Problems, shown, too_long
from harness.core.tomlfile import MAX_BYTES, parse_toml

STATUSES = ("compatible", "conditional", "incompatible", "pending")
LEVELS = ("compatible", "validated")
REUSE_KEYS = ("arch", "cpu_vendor", "cpu_family", "cpu_model", "os_id", "os_major", "os_version", "accelerator")


@dataclass
class Policy:
    organisation: str = "xch"
    lab: str = ""
    ignore_prefixes: list[str] = field(default_factory=list)
    required: list[str] = field(default_factory=list)
    error_on_mandatory: str = "pending"
    min_mandatory_passed: int = 1
    missed_verdicts: list[str] = field(default_factory=lambda: ["regression", "worse", "fail", "failed", "missed"])
    security_prefix: str = "SEC-"
    min_security_checks: int = 1
    validated_statuses: list[str] = field(default_factory=lambda: ["compatible"])
    stages: list[str] = field(default_factory=lambda: ["lab", "pilot", "rollout"])
    stage_statuses: list[str] = field(default_factory=lambda: ["compatible", "conditional"])
    rollout_requires_certificate: bool = True
    reuse_enabled: bool = True
    reuse_same: list[str] = field(default_factory=lambda: ["arch", "cpu_vendor", "cpu_family", "os_id", "os_major"])
    reuse_statuses: list[str] = field(default_factory=lambda: ["compatible", "conditional"])
    os_major: dict[str, str] = field(default_factory=lambda: {"default": r"^(\d+)"})
    approvals_required: int = 2
    submitter_may_review: bool = False
    validity_years: int = 3
    certificate_prefix: str = "XCH-CERT"
    source: str = "(built-in defaults)"
    digest: str = ""

    def os_major_of(self, os_id: str, os_version: str) -> str:
        pattern = self.os_major.get(os_id, self.os_major.get("default", r"^(\d+)"))
        match = re.search(pattern, os_version or "")
        return match.group(1) if match and match.groups() else (os_version or "")


def default_path() -> Path:
    return project_dir() / "whitelist" / "policy.toml"


def load_policy(path: Path | None = None) -> Policy:
    """Read the policy; every problem is reported at once with file and field."""
    path = path or default_path()
    if not path.exists():
        if path == default_path():
            return Policy()
        raise InputError(f"{path}: policy file not found")
    if not path.is_file() or path.stat().st_size > MAX_BYTES:
        raise InputError(f"{path}: expected a policy file of at most {MAX_BYTES:,} bytes")
    raw_bytes = path.read_bytes()  # read once: the digest is of exactly the bytes the rules came from
    raw = parse_toml(raw_bytes, path, "policy file")
    problems = Problems("policy", path)
    p = Policy(source=str(path), digest=hashlib.new("sm3", raw_bytes).hexdigest())

    def get(table: str, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        section: Any = raw
        for part in table.split("."):
            section = section.get(part, {}) if isinstance(section, dict) else {}
        value = section.get(key, default) if isinstance(section, dict) else default
        where = f"[{table}] {key}"
        if kind is list:
            if not isinstance(value, list) or not all(isinstance(v, str) and not too_long(v, TEXT_CHARS) for v in value):
                problems.add(where, f"expected a list of strings of at most {TEXT_CHARS} characters, got {shown(value)}")
                return default
        elif kind is int:
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1_000_000:
                problems.add(where, f"expected a non-negative integer up to 1,000,000, got {shown(value)}")
                return default
        elif not isinstance(value, kind):
            problems.add(where, f"expected {getattr(kind, '__name__', kind)}, got {shown(value)}")
            return default
        elif kind is str and too_long(value, TEXT_CHARS):
            problems.add(where, f"expected a string of {too_long(value, TEXT_CHARS)}")
            return default
        return value

    p.organisation = get("organisation", "name", str, p.organisation)
    p.lab = get("organisation", "lab", str, p.lab)
    p.ignore_prefixes = get("checks", "ignore_prefixes", list, p.ignore_prefixes)
    p.required = get("checks", "required", list, p.required)
    p.error_on_mandatory = get("checks", "error_on_mandatory", str, p.error_on_mandatory)
    if p.error_on_mandatory not in ("pending", "incompatible"):
        problems.add("[checks] error_on_mandatory", f"expected 'pending' or 'incompatible', got {p.error_on_mandatory!r}")
    p.min_mandatory_passed = get("checks", "min_mandatory_passed", int, p.min_mandatory_passed)
    p.missed_verdicts = get("performance", "missed_verdicts", list, p.missed_verdicts)
    p.security_prefix = get("levels.validated", "security_prefix", str, p.security_prefix)
    p.min_security_checks = get("levels.validated", "min_security_checks", int, p.min_security_checks)
    p.validated_statuses = get("levels.validated", "statuses", list, p.validated_statuses)
    p.stages = get("stages", "order", list, p.stages)
    p.stage_statuses = get("stages", "allowed_statuses", list, p.stage_statuses)
    p.rollout_requires_certificate = get("stages", "rollout_requires_certificate", bool, p.rollout_requires_certificate)
    p.reuse_enabled = get("reuse", "enabled", bool, p.reuse_enabled)
    p.reuse_same = get("reuse", "same", list, p.reuse_same)
    p.reuse_statuses = get("reuse", "statuses", list, p.reuse_statuses)
    majors = raw.get("reuse", {}).get("os_major", {}) if isinstance(raw.get("reuse", {}), dict) else {}
    if not isinstance(majors, dict) or not all(isinstance(v, str) for v in majors.values()):
        problems.add("[reuse.os_major]", "expected os_id = 'regular expression' pairs")
    else:
        for os_id, pattern in majors.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.add(f"[reuse.os_major] {os_id}", f"not a regular expression: {exc}")
        p.os_major = {"default": r"^(\d+)", **majors}
    p.approvals_required = get("certification", "approvals_required", int, p.approvals_required)
    p.submitter_may_review = get("certification", "submitter_may_review", bool, p.submitter_may_review)
    p.validity_years = get("certification", "validity_years", int, p.validity_years)
    p.certificate_prefix = get("certification", "certificate_prefix", str, p.certificate_prefix)

    for name, values, allowed in (("levels.validated statuses", p.validated_statuses, STATUSES),
                                  ("stages allowed_statuses", p.stage_statuses, STATUSES),
                                  ("reuse statuses", p.reuse_statuses, STATUSES),
                                  ("reuse same", p.reuse_same, REUSE_KEYS)):
        bad = [v for v in values if v not in allowed]
        if bad:
            problems.add(f"[{name.split()[0]}] {name.split()[1]}", f"{', '.join(map(shown, bad))} not one of {', '.join(allowed)}")
    if p.approvals_required < 2:
        problems.add("[certification] approvals_required", "the two-person rule needs at least 2")
    if len(p.stages) < 1 or len(set(p.stages)) != len(p.stages):
        problems.add("[stages] order", f"expected distinct stage names, got {shown(p.stages)}")
    problems.raise_if_any()
    return p
