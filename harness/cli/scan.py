"""`xch scan`: porting scan of code, packages and binaries (x86 -> aarch64).

    xch scan PATH [--format text|json|csv|html|xlsx] [--target-arch aarch64] [--target-os ID-VERSION] [--out FILE]

Exit codes: 0 = no blocker, 1 = blockers found, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from harness.cli.util import write_out
from harness.core.errors import EXIT_CHECKS_FAILED, EXIT_OK, InputError


def cmd_scan(args: argparse.Namespace) -> int:
    from harness.scan import render, scan_path

    if args.format == "xlsx" and not args.out:
        raise InputError("--format xlsx needs --out FILE (a spreadsheet is not printed to the terminal)")
    report = scan_path(args.path, target_arch=args.target_arch, target_os=args.target_os or "")
    output = render(report, args.format)
    if args.out:
        write_out(args.out, output)
        s = report.summary()
        print(f"xch scan: {s['findings']} findings ({s['by_severity']['blocker']} blockers, "
              f"{s['by_severity']['warning']} warnings, {s['by_severity']['info']} info) in {s['files_scanned']} "
              f"files -> {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(output if isinstance(output, str) else output.decode())
    return EXIT_CHECKS_FAILED if report.blockers else EXIT_OK


def register(sub: Any) -> None:
    from harness.scan.output import FORMATS
    from harness.scan.scanner import TARGET_ARCHES

    p = sub.add_parser("scan", help="porting scan of source code, packages and binaries (x86 -> aarch64)")
    p.add_argument("path", metavar="PATH", help="source tree, file, tarball, deb, rpm, jar or wheel")
    p.add_argument("--format", choices=FORMATS, default="text", help="output format (default text)")
    p.add_argument("--target-arch", choices=TARGET_ARCHES, default="aarch64", help="architecture to port to")
    p.add_argument("--target-os", metavar="ID-VERSION", help="check ELF glibc floors against this OS "
                   "(e.g. openeuler-22.03, kylin-v10, uos-20, centos-7)")
    p.add_argument("--out", metavar="FILE", help="write the report to FILE (required for xlsx)")
    p.set_defaults(func=cmd_scan)
