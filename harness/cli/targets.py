"""`xch targets list|check`: the selected inventory entries, and whether each answers (with its facts)."""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness.cli.util import emit, inventory_options, json_option, load_selected_inventory, table
from harness.core.errors import EXIT_INFRA, EXIT_OK, XchError
from harness.inventory import Inventory, Target


def cmd_targets_list(args: argparse.Namespace) -> int:
    selected = load_selected_inventory(args).select(args.targets)
    rows = [t.public_dict() for t in selected]
    emit(args, rows, lambda: table(
        [{**r, "labels": ",".join(f"{k}={v}" for k, v in r["labels"].items())} for r in rows],
        ["name", "host", "port", "user", "transport", "labels", "source"]))
    return EXIT_OK


def check_target(target: Target, inventory: Inventory) -> dict[str, Any]:
    """Connect, gather facts, close: one row of `xch targets check`."""
    from harness.facts.gather import gather_facts
    from harness.transport import open_connection

    conn = open_connection(target, inventory)
    try:
        conn.connect()
        facts = gather_facts(conn.run)
        return {"name": target.name, "reachable": True, "error": None, "facts": facts}
    except XchError as exc:
        return {"name": target.name, "reachable": False, "error": exc.message, "facts": {}}
    finally:
        conn.close()


def cmd_targets_check(args: argparse.Namespace) -> int:
    inventory = load_selected_inventory(args)
    selected = inventory.select(args.targets)
    with ThreadPoolExecutor(max_workers=min(32, len(selected))) as pool:
        rows = list(pool.map(lambda t: check_target(t, inventory), selected))

    def human() -> str:
        flat = []
        for row in rows:
            f = row["facts"]
            flat.append({
                "target": row["name"], "reachable": "yes" if row["reachable"] else "NO",
                "arch": f.get("arch", ""), "cpu": " ".join(x for x in (f.get("cpu_vendor"), f.get("cpu_model")) if x),
                "os": " ".join(str(x) for x in (f.get("os_name"), f.get("os_version"), f.get("os_sp")) if x),
                "kernel": f.get("kernel", ""), "glibc": f.get("glibc", ""),
                "cores": f.get("cores", ""), "mem_mb": f.get("mem_total_mb", ""),
                "error": row["error"] or "",
            })
        return table(flat, ["target", "reachable", "arch", "cpu", "os", "kernel", "glibc", "cores", "mem_mb", "error"])

    emit(args, rows, human)
    return EXIT_OK if all(r["reachable"] for r in rows) else EXIT_INFRA


def register(sub: argparse._SubParsersAction) -> None:
    targets = sub.add_parser("targets", help="list and check inventory targets")
    tsub = targets.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    p = tsub.add_parser("list", help="list the selected targets")
    inventory_options(p), json_option(p), p.set_defaults(func=cmd_targets_list)
    p = tsub.add_parser("check", help="connect to every selected target and print reachability and facts")
    inventory_options(p), json_option(p), p.set_defaults(func=cmd_targets_check)
