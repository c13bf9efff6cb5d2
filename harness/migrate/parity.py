"""Behaviour parity: the same commands on a source and a destination system, outputs compared after
normalisation. A parity file (TOML) lists the commands and how to normalise what they print.

    source = "role=baseline"          # selector of exactly one inventory target (XCH_PARITY_SOURCE overrides)
    destination = "lab-arm64"         # optional: only these destinations (XCH_PARITY_DESTINATION overrides)
    timeout = 120                     # seconds per command (default 120)
    normalise = ["trailing-space"]    # applied to every check, before the check's own

    [[replace]]                       # custom rewrite for every check: Python regex -> replacement
    pattern = 'build \\d+'
    with = "build N"

    [[check]]
    id = "PARITY-UNAME"               # stable check id (letters, digits, - _ .)
    name = "kernel machine name"
    run = "uname -m"
    normalise = ["arch"]              # built-ins: see NORMALISERS
    compare = ["rc", "stdout"]        # what must match: rc, stdout, stderr (default rc + stdout)
    level = "mandatory"               # or optional

Built-in normalisers are listed in NORMALISERS; unknown names, fields and wrong types are reported
with the file, the check and the field.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.problems import COMMAND_CHARS, PATH_CHARS, TEXT_CHARS, Problems, shown, too_long
from harness.core.tomlfile import read_toml

ARCH_WORDS = re.compile(r"\b(?:x86_64|x86-64|amd64|aarch64|arm64|AArch64|i[3-6]86|loongarch64|riscv64)\b")
TIMESTAMP = re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?\b|"
                       r"\b\d{2}:\d{2}:\d{2}(?:\.\d+)?\b")
FLOAT = re.compile(r"(?<![\w.])-?\d+\.\d+(?:[eE][-+]?\d+)?(?![\w.])")


def _sort(text: str, ctx: dict[str, str]) -> str:
    return "\n".join(sorted(text.splitlines()))


def _trailing(text: str, ctx: dict[str, str]) -> str:
    return "\n".join(line.rstrip() for line in text.rstrip().splitlines())


def _whitespace(text: str, ctx: dict[str, str]) -> str:
    return "\n".join(" ".join(line.split()) for line in text.strip().splitlines())


def _hostname(text: str, ctx: dict[str, str]) -> str:
    host = ctx.get("hostname", "")
    return re.sub(rf"\b{re.escape(host)}\b", "<HOST>", text) if host else text


def _floats(text: str, ctx: dict[str, str]) -> str:
    return FLOAT.sub(lambda m: f"{float(m.group(0)):.9g}", text)


NORMALISERS: dict[str, Callable[[str, dict[str, str]], str]] = {
    "arch": lambda t, c: ARCH_WORDS.sub("<ARCH>", t),
    "hostname": _hostname,
    "timestamps": lambda t, c: TIMESTAMP.sub("<TIME>", t),
    "pids": lambda t, c: re.sub(r"\bpid[= ]\d+|\[\d+\]", "<PID>", t),
    "hex": lambda t, c: re.sub(r"\b0x[0-9a-fA-F]{6,}\b", "<HEX>", t),
    "floats": _floats,
    "whitespace": _whitespace,
    "trailing-space": _trailing,
    "sort": _sort,
}
COMPARABLE = ("rc", "stdout", "stderr")
ID_FORM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")  # fullmatch
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
OUTPUT_KEEP = 4000
SIDE_BY_SIDE_MAX = 100


@dataclass
class Replace:
    pattern: re.Pattern[str]
    replacement: str


@dataclass
class ParityCheck:
    id: str
    run: str
    name: str = ""
    normalise: list[str] = field(default_factory=list)
    replace: list[Replace] = field(default_factory=list)
    compare: list[str] = field(default_factory=lambda: ["rc", "stdout"])
    level: str = "mandatory"
    timeout: float = 120.0


@dataclass
class ParitySpec:
    path: Path
    source: str
    destination: str
    checks: list[ParityCheck]


MAX_TIMEOUT = 86400.0


def _timeout(where: str, value: Any, problems: Problems) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_TIMEOUT:
        problems.add(where, f"field 'timeout' must be a positive number of seconds up to {MAX_TIMEOUT:g}, "
                     f"got {shown(value)}")
        return False
    return True


def _replaces(where: str, raw: Any, problems: Problems) -> list[Replace]:
    out = []
    if not isinstance(raw, list):
        problems.add(where, "field 'replace' must be an array of tables with 'pattern' and 'with'")
        return out
    for i, item in enumerate(raw, start=1):
        if not isinstance(item, dict) or set(item) != {"pattern", "with"} or not all(isinstance(v, str) for v in item.values()):
            problems.add(where, f"replace #{i} must be a table with string fields 'pattern' and 'with'")
            continue
        if too_long(item["pattern"] + item["with"], PATH_CHARS):
            problems.add(where, f"replace #{i}: 'pattern' and 'with' together must be {too_long(item['pattern'] + item['with'], PATH_CHARS)}")
            continue
        try:
            out.append(Replace(re.compile(item["pattern"], re.M), item["with"]))
        except re.error as exc:
            problems.add(where, f"replace #{i}: field 'pattern' is not a valid regular expression: {exc}")
    return out


def _normalisers(where: str, raw: Any, problems: Problems) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
        problems.add(where, f"field 'normalise' must be a list of names ({', '.join(NORMALISERS)})")
        return []
    unknown = [n for n in raw if n not in NORMALISERS]
    if unknown:
        problems.add(where, f"field 'normalise': unknown normaliser(s) {', '.join(unknown)} "
                     f"(known: {', '.join(NORMALISERS)})")
    return [n for n in raw if n in NORMALISERS]


def _selector(raw: dict[str, Any], key: str, given: str | None, default: str, form: str, problems: Problems) -> str:
    value = given or raw.get(key, default)
    if not isinstance(value, str) or not value or too_long(value, TEXT_CHARS):
        problems.add("", f"field {key!r} must {form} (a string of at most {TEXT_CHARS} characters), got {shown(value)}")
        return default
    return value


def load_parity(path: Path, source: str | None = None, destination: str | None = None) -> ParitySpec:
    """Parse and validate a parity file; every problem is reported at once with file, check and field."""
    raw = read_toml(path, "parity file", missing="parity file not found (set XCH_PARITY_FILE)")
    problems = Problems("parity file", path)
    known = {"source", "destination", "timeout", "normalise", "replace", "check"}
    for key in raw:
        if key not in known:
            problems.add("", f"unknown field {shown(key)} (known: {', '.join(sorted(known))})")
    src = _selector(raw, "source", source, "", "name the source target (a name or key=value label), "
                    "or set XCH_PARITY_SOURCE", problems)
    dst = _selector(raw, "destination", destination, "*", "be a selector of destination targets", problems)
    timeout = raw.get("timeout", 120)
    if not _timeout("", timeout, problems):
        timeout = 120
    common = _normalisers("", raw.get("normalise", []), problems)
    common_replace = _replaces("", raw.get("replace", []), problems)
    checks: list[ParityCheck] = []
    entries = raw.get("check", [])
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        problems.add("", "needs at least one [[check]] table with 'id' and 'run'")
        entries = []
    seen: set[str] = set()
    for index, entry in enumerate(entries, start=1):
        cid = entry.get("id", f"#{index}")
        cwhere = f"check {shown(cid)}"
        for key in entry:
            if key not in ("id", "name", "run", "normalise", "replace", "compare", "level", "timeout"):
                problems.add(cwhere, f"unknown field {shown(key)}")
        if not isinstance(entry.get("id"), str) or not ID_FORM.fullmatch(entry["id"]):
            problems.add(cwhere, "field 'id' must be letters, digits, '-', '_' or '.' (at most 128, e.g. \"PARITY-001\")")
            continue
        if cid in seen:
            problems.add(cwhere, "duplicate id")
            continue
        seen.add(cid)
        run = entry.get("run")
        if not isinstance(run, str) or not run.strip() or too_long(run, COMMAND_CHARS):
            problems.add(cwhere, f"field 'run' must be a non-empty shell command string of at most "
                         f"{COMMAND_CHARS:,} characters")
            continue
        name = entry.get("name", "")
        if not isinstance(name, str) or too_long(name, TEXT_CHARS) or CONTROL.search(name):
            problems.add(cwhere, f"field 'name' must be one line of at most {TEXT_CHARS} characters, got {shown(name)}")
            name = ""
        compare = entry.get("compare", ["rc", "stdout"])
        if not isinstance(compare, list) or not compare or any(c not in COMPARABLE for c in compare):
            problems.add(cwhere, f"field 'compare' must be a non-empty list of {', '.join(COMPARABLE)}")
            compare = ["rc", "stdout"]
        level = entry.get("level", "mandatory")
        if level not in ("mandatory", "optional"):
            problems.add(cwhere, f"field 'level' must be \"mandatory\" or \"optional\", got {shown(level)}")
        check_timeout = entry.get("timeout", timeout)
        if not _timeout(cwhere, check_timeout, problems):
            check_timeout = timeout
        checks.append(ParityCheck(
            id=cid, run=run, name=name,
            normalise=common + _normalisers(cwhere, entry.get("normalise", []), problems),
            replace=common_replace + _replaces(cwhere, entry.get("replace", []), problems),
            compare=list(compare), level=level, timeout=float(check_timeout)))
    problems.raise_if_any()
    return ParitySpec(path=path, source=src, destination=dst, checks=checks)


def normalise(text: str, check: ParityCheck, ctx: dict[str, str]) -> str:
    for name in check.normalise:
        text = NORMALISERS[name](text, ctx)
    for rep in check.replace:
        text = rep.pattern.sub(rep.replacement, text)
    return text


@dataclass
class Side:
    target: str
    rc: int
    stdout: str
    stderr: str
    timed_out: bool = False

    def normalised(self, check: ParityCheck, ctx: dict[str, str]) -> dict[str, Any]:
        return {"rc": self.rc, "stdout": normalise(self.stdout, check, ctx), "stderr": normalise(self.stderr, check, ctx)}


def side_by_side(a: str, b: str, limit: int = SIDE_BY_SIDE_MAX) -> list[dict[str, Any]]:
    """Rows of the lines that differ: {line, source, destination} (None where one side has no line)."""
    rows = []
    matcher = difflib.SequenceMatcher(a=a.splitlines(), b=b.splitlines(), autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        left, right = matcher.a[i1:i2], matcher.b[j1:j2]
        for k in range(max(len(left), len(right))):
            rows.append({"line": (i1 + k + 1) if k < len(left) else None,
                         "source": left[k] if k < len(left) else None,
                         "destination": right[k] if k < len(right) else None})
            if len(rows) >= limit:
                return rows
    return rows


def compare_sides(check: ParityCheck, src: Side, dst: Side, src_ctx: dict[str, str],
                  dst_ctx: dict[str, str]) -> tuple[list[str], dict[str, Any]]:
    """(what differs, evidence). Evidence holds both outputs, normalised and raw, and a side-by-side."""
    a, b = src.normalised(check, src_ctx), dst.normalised(check, dst_ctx)
    differs = [key for key in check.compare if a[key] != b[key]]
    evidence: dict[str, Any] = {
        "command": check.run, "normalise": check.normalise, "compare": check.compare,
        "source": {"target": src.target, "rc": src.rc, "stdout": a["stdout"][:OUTPUT_KEEP],
                   "stderr": a["stderr"][:OUTPUT_KEEP], "raw_stdout": src.stdout[:OUTPUT_KEEP]},
        "destination": {"target": dst.target, "rc": dst.rc, "stdout": b["stdout"][:OUTPUT_KEEP],
                        "stderr": b["stderr"][:OUTPUT_KEEP], "raw_stdout": dst.stdout[:OUTPUT_KEEP]},
        "differs": differs,
    }
    for key in ("stdout", "stderr"):
        if key in differs:
            evidence[f"side_by_side_{key}"] = side_by_side(a[key], b[key])
    return differs, evidence
