"""Findings grouped per file and rule, for the formats people read (text, html, csv, xlsx).

Sixty `_mm_*` calls in one kernel are one porting job: a reader wants "jccolext.c, x86-intrinsic,
blocker, 60 lines: 12, 15, 40-44 ..." rather than sixty rows. JSON keeps every line for tools.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.scan.model import SEVERITIES, Finding

LINES_SHOWN = 12


@dataclass
class Group:
    severity: str
    rule: str
    file: str
    lines: list[int] = field(default_factory=list)
    snippet: str = ""  # of the first line
    suggestion: str = ""  # of the first line

    @property
    def count(self) -> int:
        return len(self.lines)

    @property
    def first_line(self) -> int:
        return self.lines[0] if self.lines else 0

    def line_list(self, shown: int = LINES_SHOWN) -> str:
        """`12, 15, 40-44, … (+8 more)`: runs of consecutive lines joined, the first `shown` runs listed."""
        numbers = sorted(n for n in set(self.lines) if n)
        runs: list[tuple[int, int]] = []
        for number in numbers:
            if runs and number == runs[-1][1] + 1:
                runs[-1] = (runs[-1][0], number)
            else:
                runs.append((number, number))
        text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs[:shown])
        hidden = sum(b - a + 1 for a, b in runs[shown:])
        return text + (f", … (+{hidden} more)" if hidden else "")


def group_findings(findings: list[Finding]) -> list[Group]:
    """One group per (file, rule, severity), most severe first, then by file and rule."""
    order = {s: i for i, s in enumerate(SEVERITIES)}
    groups: dict[tuple[str, str, str], Group] = {}
    for finding in sorted(findings, key=lambda f: (f.file, f.line)):
        key = (finding.file, finding.rule, finding.severity)
        group = groups.get(key)
        if group is None:
            group = groups[key] = Group(finding.severity, finding.rule, finding.file, snippet=finding.snippet,
                                        suggestion=finding.suggestion)
        group.lines.append(finding.line)
    return sorted(groups.values(), key=lambda g: (order.get(g.severity, 9), g.file, g.rule))
