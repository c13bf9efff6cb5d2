"""`xch scan` (porting scan of code, packages and binaries) and `xch migrate assess` (system assessment).

    xch scan PATH [--format text|json|csv|html|xlsx] [--target-arch aarch64] [--target-os ID-VERSION] [--out FILE]
    xch migrate assess --source SEL --target SEL [--config PATH ...] [--json] [--out FILE]

Exit codes: scan 0 = no blocker, 1 = blockers found; assess 0 = ready, 1 = blockers; 2 bad input;
3 a system could not be reached.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from harness.cliutil import emit, json_option, project_dir, table
from harness.core.errors import EXIT_CHECKS_FAILED, EXIT_OK, InputError
from harness.core.storage import atomic_write


def _write_out(path: str, data: str | bytes) -> None:
    """Write atomically (temp file + rename) so a report is never half-written."""
    target = Path(path)
    if target.is_dir():
        raise InputError(f"--out {path}: is a directory; give a file name")
    atomic_write(target, data)


def cmd_scan(args: argparse.Namespace) -> int:
    from harness.scan import render, scan_path

    if args.format == "xlsx" and not args.out:
        raise InputError("--format xlsx needs --out FILE (a spreadsheet is not printed to the terminal)")
    report = scan_path(args.path, target_arch=args.target_arch, target_os=args.target_os or "")
    output = render(report, args.format)
    if args.out:
        _write_out(args.out, output)
        s = report.summary()
        print(f"xch scan: {s['findings']} findings ({s['by_severity']['blocker']} blockers, "
              f"{s['by_severity']['warning']} warnings, {s['by_severity']['info']} info) in {s['files_scanned']} "
              f"files -> {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(output if isinstance(output, str) else output.decode())
    return EXIT_CHECKS_FAILED if report.blockers else EXIT_OK


def _assess_text(result: dict[str, Any]) -> str:
    src, dst = result["source"], result["target"]
    lines = [f"迁移评估 / migration assessment: {src['name']} ({src['arch']}, {src['os_name']} {src['os_version']}, "
             f"glibc {src['glibc']}) -> {dst['name']} ({dst['arch']}, {dst['os_name']} {dst['os_version']}, "
             f"glibc {dst['glibc']})",
             f"readiness score / 就绪度: {result['score']}/100   ready / 可迁移: {'yes' if result['ready'] else 'NO'}   "
             f"blockers: {len(result['blockers'])}   warnings: {len(result['warnings'])}", ""]
    lines.append(table([{"area": k, **v} for k, v in result["areas"].items()],
                       ["area", "weight", "ratio", "ok", "warning", "blocker", "info"]))
    for title, key in (("blockers / 阻塞项", "blockers"), ("warnings / 警告", "warnings")):
        if result[key]:
            lines += ["", title + ":", table(result[key][:200], ["area", "item", "detail"])]
            if len(result[key]) > 200:
                lines.append(f"… {len(result[key]) - 200} more")
    if result.get("ports"):
        lines += ["", "listening ports on the source / 源系统监听端口:",
                  table(result["ports"], ["proto", "address", "port", "process", "program_on_target"])]
    for note in result.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)


def cmd_migrate_assess(args: argparse.Namespace) -> int:
    from harness.inventory import load_inventory
    from harness.migrate import assess

    files = [Path(f) for f in (args.inventory or [])]
    inventory = load_inventory(files or None, project_dir())
    result = assess(inventory, args.source, args.target, args.config or [])
    if args.out:
        _write_out(args.out, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    emit(args, result, lambda: _assess_text(result))
    return EXIT_OK if result["ready"] else EXIT_CHECKS_FAILED


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

    m = sub.add_parser("migrate", help="system migration: assess a source system against a target")
    msub = m.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    p = msub.add_parser("assess", help="read the source system over SSH and check the target can run it")
    p.add_argument("--source", required=True, metavar="SEL", help="the system being migrated (name or label)")
    p.add_argument("--target", required=True, metavar="SEL", help="the system it moves to (name or label)")
    p.add_argument("--inventory", action="append", metavar="FILE", help="inventory file (default: targets/*.toml)")
    p.add_argument("--config", action="append", metavar="PATH", help="extra config file to compare (repeatable)")
    p.add_argument("--out", metavar="FILE", help="also write the JSON assessment to FILE")
    json_option(p)
    p.set_defaults(func=cmd_migrate_assess)
