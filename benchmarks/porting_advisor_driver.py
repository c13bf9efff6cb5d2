#!/usr/bin/env python3
"""Run AWS porting-advisor-for-graviton on one tree and print every issue it reports, as JSON.

Run by benchmarks/scan_precision.py with the peer's own virtualenv (the peer is never a
dependency of xch): `PEER_VENV/bin/python porting_advisor_driver.py PEER_SRC TREE`. It does what
the peer's `main()` does (its default issue types, its ported-code filter, its target-OS
filter) except the last filter, which only abbreviates long lists to "N other issues": every
line the peer reports is kept so it can be scored line by line.
"""

from __future__ import annotations

import json
import os
import sys


def main(peer_src: str, tree: str) -> int:
    sys.path.insert(0, peer_src)
    from advisor.filters.other_issues_filter import OtherIssuesFilter  # type: ignore[import-not-found]
    from advisor.reports.issues.issue_type_config import IssueTypeConfig  # type: ignore[import-not-found]
    from advisor.reports.report_factory import ReportFactory, ReportOutputFormat  # type: ignore[import-not-found]
    from advisor.scanners.auto_scanner import AutoScanner  # type: ignore[import-not-found]
    from advisor.scanners.scanners import Scanners  # type: ignore[import-not-found]

    config = IssueTypeConfig(None)
    report = ReportFactory().createReport(tree, target_os="linux", issue_type_config=config,
                                          output_format=ReportOutputFormat.JSON)
    scanners = Scanners(config, filter_ported_code=True)
    scanners.filters = [f for f in scanners.filters if not isinstance(f, OtherIssuesFilter)]
    scanners.initialize_report(report)
    AutoScanner(scanners).scan_tree(tree, report)
    scanners.finalize_report(report)
    issues = []
    for issue in report.issues:
        name = issue.filename or ""
        issues.append({"type": type(issue).__name__.removesuffix("Issue"),
                       "file": os.path.relpath(name, tree) if name else "",
                       "line": issue.lineno or 0, "description": issue.description})
    json.dump({"issues": issues, "files": len(report.source_files), "errors": len(report.errors)}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
