"""Shared pieces of the command line: output (table or JSON), common options, --out files, inventories.

Command modules (harness/cli/<verb>.py) each define `register(sub)` that adds their subcommands; a
command function takes the parsed args and returns the exit code (see harness.core.errors).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.core.errors import InputError
from harness.core.paths import project_dir
from harness.core.storage import atomic_write
from harness.inventory import Inventory, load_inventory


def emit(args: argparse.Namespace, data: Any, human: Callable[[], str]) -> None:
    """Print `data` as JSON with --json, else the human rendering."""
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        print(human())


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    from tabulate import tabulate

    # disable_numparse: a version "1.0" must print as 1.0, not 1
    return tabulate([[row.get(c, "") for c in columns] for row in rows], headers=columns, tablefmt="simple",
                    disable_numparse=True)


def write_out(path: str | Path, data: str | bytes) -> None:
    """Write an --out file atomically, so a report or an export is never half-written."""
    target = Path(path)
    if target.is_dir():
        raise InputError(f"--out {path}: is a folder; give a file name")
    atomic_write(target, data)


def json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def inventory_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--inventory", action="append", metavar="FILE",
                        help="inventory file (repeatable; default: every targets/*.toml)")
    parser.add_argument("--targets", metavar="SEL", default=None,
                        help="names or labels key=value, comma-separated (default: all)")


def load_selected_inventory(args: argparse.Namespace) -> Inventory:
    """The inventory the command line names (--inventory FILE...), else every targets/*.toml."""
    files = [Path(f) for f in (getattr(args, "inventory", None) or [])]
    return load_inventory(files or None, project_dir())
