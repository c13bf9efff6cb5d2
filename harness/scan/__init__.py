"""Porting scan: what in a code base or a package will not build or run on the target architecture.

    from harness.scan import scan_path, render
    report = scan_path("src/", target_arch="aarch64", target_os="openeuler-22.03")
    print(render(report, "text"))

Rules live in harness.scan.rules; each scanner module handles one kind of file. Packages and ELF
files are read through harness.artifacts, the reader compat and `xch product inspect` use
(binary.py turns its ELF records into ElfInfo and findings).
"""

from harness.scan.model import ElfInfo, Finding, ScanReport
from harness.scan.scanner import scan_path

__all__ = ["ElfInfo", "Finding", "ScanReport", "scan_path", "render"]


def render(report: ScanReport, fmt: str) -> str | bytes:
    """The report in one of the output formats (text, json, csv, html, xlsx: bytes)."""
    from harness.scan.output import render as _render

    return _render(report, fmt)
