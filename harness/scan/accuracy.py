"""How right a porting scan is: its blockers scored against ground truth judged by hand.

A truth file is CSV with the columns `file,line,severity,rule,why`, one judgement per row:

- `file`: a path inside the tree, or a glob (`simd/mips64/*`) for a judgement about many files;
- `line`: the line, `0` for the file as a whole (an assembly file), `*` for every line;
- `severity`: the true severity, `blocker`, `warning`, `info` or `none` (not a porting issue);
- `rule`: for a true blocker, which kind of problem it is (xch's rule id, used per rule);
- `why`: the reason, in words, so the next reader can disagree.

Only exact `blocker` rows (a file and a line or 0) are the true blockers recall counts; glob
and `*` rows explain claims (why a flagged line is not a blocker). A claim (a tool's blocker at a
file and line) is true when it names a true blocker's file and line, or either side is the file
as a whole (line 0). Precision is true claims over claims, recall found true blockers over true
blockers; a tree with nothing on one side scores 1.0 there (nothing claimed wrongly, nothing
missed).
"""

from __future__ import annotations

import csv
import fnmatch
import io
from dataclasses import dataclass, field
from pathlib import Path

from harness.core.errors import InputError

SEVERITIES = ("blocker", "warning", "info", "none")
COLUMNS = ("file", "line", "severity", "rule", "why")


@dataclass(frozen=True)
class Judgement:
    file: str
    line: int | None  # None: every line (`*`)
    severity: str
    rule: str
    why: str
    row: int  # the row of the truth file, for messages

    @property
    def exact(self) -> bool:
        return self.line is not None and not any(ch in self.file for ch in "*?[")

    def covers(self, file: str, line: int) -> bool:
        if not fnmatch.fnmatchcase(file, self.file):
            return False
        return self.line is None or self.line == line or self.line == 0 or line == 0


@dataclass(frozen=True)
class Claim:
    """One blocker a tool reports."""

    file: str
    line: int
    rule: str


@dataclass
class Score:
    claims: int = 0
    true_claims: int = 0
    true_blockers: int = 0
    found: int = 0
    unjudged: list[Claim] = field(default_factory=list)  # claims no truth row speaks about
    false: list[tuple[Claim, Judgement | None]] = field(default_factory=list)
    missed: list[Judgement] = field(default_factory=list)
    per_rule: dict[str, dict[str, int]] = field(default_factory=dict)  # rule -> claims/true/blockers/found

    @property
    def precision(self) -> float:
        return 1.0 if not self.claims else self.true_claims / self.claims

    @property
    def recall(self) -> float:
        return 1.0 if not self.true_blockers else self.found / self.true_blockers


def load_truth(path: Path) -> list[Judgement]:
    """Read a truth file; a bad row is refused naming the file, row, field and what was expected."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the truth file: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise InputError(f"{path}: header must be {','.join(COLUMNS)}, got {','.join(reader.fieldnames or [])}")
    judgements = []
    for row_number, row in enumerate(reader, start=2):
        where = f"{path}: row {row_number}"
        file = (row.get("file") or "").strip()
        if not file or file.startswith("/") or ".." in Path(file).parts:
            raise InputError(f"{where}: file: expected a path inside the tree, got {file!r}")
        raw_line = (row.get("line") or "").strip()
        if raw_line == "*":
            line = None
        elif raw_line.isdigit():
            line = int(raw_line)
        else:
            raise InputError(f"{where}: line: expected a line number, 0 (the whole file) or *, got {raw_line!r}")
        severity = (row.get("severity") or "").strip()
        if severity not in SEVERITIES:
            raise InputError(f"{where}: severity: expected one of {', '.join(SEVERITIES)}, got {severity!r}")
        why = (row.get("why") or "").strip()
        if not why:
            raise InputError(f"{where}: why: every judgement needs its reason")
        rule = (row.get("rule") or "").strip()
        if severity == "blocker" and (line is None or any(ch in file for ch in "*?[")) :
            raise InputError(f"{where}: a blocker names one file and one line (or 0), got {file!r} line {raw_line!r}")
        judgements.append(Judgement(file, line, severity, rule, why, row_number))
    return judgements


def judgement_for(truth: list[Judgement], file: str, line: int) -> Judgement | None:
    """The most specific row about a file and line: an exact line before a whole file, before globs."""
    best: tuple[tuple[int, int], Judgement] | None = None
    for judgement in truth:
        if not judgement.covers(file, line):
            continue
        by_line = (0 if judgement.exact and judgement.line == line else 1 if judgement.exact else
                   2 if judgement.line is not None else 3)
        rank = (by_line, -len(judgement.file.replace("*", "").replace("?", "")))  # longer patterns are narrower
        if best is None or rank < best[0]:
            best = (rank, judgement)
    return best[1] if best else None


def score(claims: list[Claim], truth: list[Judgement]) -> Score:
    result = Score()
    blockers = [j for j in truth if j.severity == "blocker"]
    result.true_blockers = len(blockers)
    per_rule = result.per_rule
    found: set[int] = set()
    for claim in claims:
        result.claims += 1
        rule = per_rule.setdefault(claim.rule, {"claims": 0, "true": 0, "blockers": 0, "found": 0})
        rule["claims"] += 1
        matched = [j for j in blockers if j.file == claim.file and
                   (j.line == claim.line or j.line == 0 or claim.line == 0)]
        if matched:
            result.true_claims += 1
            rule["true"] += 1
            found.update(j.row for j in matched)
            continue
        judgement = judgement_for(truth, claim.file, claim.line)
        if judgement is None:
            result.unjudged.append(claim)
        result.false.append((claim, judgement))
    for judgement in blockers:
        rule = per_rule.setdefault(judgement.rule or "?", {"claims": 0, "true": 0, "blockers": 0, "found": 0})
        rule["blockers"] += 1
        if judgement.row in found:
            rule["found"] += 1
            result.found += 1
        else:
            result.missed.append(judgement)
    return result
