"""Shared pieces of the command line: output (table or JSON), common options, the project folder.

Command modules (harness/cli_*.py) each define `register(sub)` that adds their subcommands; a
command function takes the parsed args and returns the exit code (see harness.errors).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, Callable


def project_dir() -> Path:
    """The project folder (targets/, results/, products/...): $XCH_PROJECT_DIR or the current one."""
    return Path(os.environ.get("XCH_PROJECT_DIR", ".")).resolve()


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


def json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def inventory_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--inventory", action="append", metavar="FILE",
                        help="inventory file (repeatable; default: every targets/*.toml)")
    parser.add_argument("--targets", metavar="SEL", default=None,
                        help="names or labels key=value, comma-separated (default: all)")
