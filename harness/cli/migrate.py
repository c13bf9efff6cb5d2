"""`xch migrate assess`: read a source system over SSH and check a target can run what it runs.

    xch migrate assess --source SEL --target SEL [--config PATH ...] [--json] [--out FILE]

Exit codes: 0 = ready, 1 = blockers; 2 bad input; 3 a system could not be reached.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from harness.cli.util import emit, json_option, load_selected_inventory, table, write_out
from harness.core.errors import EXIT_CHECKS_FAILED, EXIT_OK


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
    from harness.migrate import assess

    inventory = load_selected_inventory(args)
    result = assess(inventory, args.source, args.target, args.config or [])
    if args.out:
        write_out(args.out, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    emit(args, result, lambda: _assess_text(result))
    return EXIT_OK if result["ready"] else EXIT_CHECKS_FAILED


def register(sub: Any) -> None:
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
