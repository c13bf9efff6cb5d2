"""Small source trees for the scan's unit tests: write files, scan them, list what was found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.scan import scan_path
from harness.scan.model import ScanReport


def scan_files(tmp_path: Path, files: dict[str, str | bytes], **kwargs: Any) -> ScanReport:
    """Write `files` (relative path -> text or bytes) under tmp_path and scan the folder."""
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return scan_path(tmp_path, **kwargs)


def hits(report: ScanReport, rule: str | None = None, severity: str | None = None) -> list[tuple[str, str, str, int]]:
    """(rule, severity, file, line) of the findings, most severe first, optionally of one rule or severity."""
    return [(f.rule, f.severity, f.file, f.line) for f in report.sorted_findings()
            if (rule is None or f.rule == rule) and (severity is None or f.severity == severity)]
