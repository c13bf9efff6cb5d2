"""The data a scan produces: findings, ELF records, and the report that summarises them.

Kept free of scanning logic so output formats, the CLI and tests share one shape:
`{"findings": [...], "summary": {...}, "binaries": [...]}`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

SEVERITIES = ("blocker", "warning", "info")


def printable(text: str, controls: bool = True) -> str:
    """Text every report format can hold: bytes a file name had that are not UTF-8 (which Python
    keeps as surrogates) become `\\xff`, other lone surrogates `\\ud800`, and (with `controls`)
    control characters `\\x01`, `\\n`. Printable text is returned unchanged."""
    if text.isprintable() and text.isascii():
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        elif controls and not (ch.isprintable() or ch == " "):
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)
FINDING_FIELDS = ("rule", "severity", "file", "line", "snippet", "suggestion")


@dataclass(frozen=True)
class Finding:
    """One thing in the scanned code or package that matters for running on the target arch."""

    rule: str
    severity: str
    file: str
    line: int
    snippet: str
    suggestion: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ElfInfo:
    """What one ELF file needs: its machine and the highest GLIBC_x.y symbol version it references."""

    file: str
    machine: str  # e.g. "x86_64", "aarch64" (normalised from e_machine)
    elf_class: int  # 32 or 64
    elf_type: str  # ET_EXEC, ET_DYN, ET_REL
    glibc_floor: str  # "" when it needs no versioned glibc symbol (static, or not linked to glibc)
    glibc_ok: bool | None = None  # against the chosen target OS; None when no target OS was given
    arch_ok: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ScanReport:
    """Everything one `xch scan` found, with the options it ran under."""

    root: str
    target_arch: str
    target_os: str = ""
    target_glibc: str = ""
    findings: list[Finding] = field(default_factory=list)
    binaries: list[ElfInfo] = field(default_factory=list)
    files_scanned: int = 0
    elapsed_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def sorted_findings(self) -> list[Finding]:
        order = {s: i for i, s in enumerate(SEVERITIES)}
        return sorted(self.findings, key=lambda f: (order.get(f.severity, 9), f.file, f.line, f.rule))

    def summary(self) -> dict[str, Any]:
        """Counts per rule and per severity, effort per file, and what the binaries need."""
        from harness.scan.effort import effort_by_file, total_effort

        per_file = effort_by_file(self.findings)
        return {
            "root": self.root,
            "target_arch": self.target_arch,
            "target_os": self.target_os,
            "target_glibc": self.target_glibc,
            "files_scanned": self.files_scanned,
            "elapsed_s": round(self.elapsed_s, 3),
            "findings": len(self.findings),
            "by_severity": {s: sum(f.severity == s for f in self.findings) for s in SEVERITIES},
            "by_rule": dict(sorted(Counter(f.rule for f in self.findings).items())),
            "effort_by_file": per_file,
            "effort_total_hours": total_effort(per_file),
            "binaries": len(self.binaries),
            "binaries_by_machine": dict(sorted(Counter(b.machine for b in self.binaries).items())),
            "max_glibc_floor": max((b.glibc_floor for b in self.binaries if b.glibc_floor),
                                   key=version_key, default=""),
            "notes": list(self.notes),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "findings": [f.to_dict() for f in self.sorted_findings()],
            "summary": self.summary(),
            "binaries": [b.to_dict() for b in sorted(self.binaries, key=lambda b: b.file)],
        }

    @property
    def blockers(self) -> int:
        return sum(f.severity == "blocker" for f in self.findings)


def version_key(version: str) -> tuple[int, ...]:
    """'2.34' -> (2, 34), for comparing glibc versions numerically ('2.9' < '2.17')."""
    parts = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)
