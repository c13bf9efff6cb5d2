"""The `xch` command line: one module per verb, each adding its subcommands with `register(sub)`.

- targets.py   xch targets list|check
- lab.py       xch lab up|status|down
- run.py       xch run, xch results show
- product.py   xch product validate|inspect
- certify.py   xch certify
- scan.py      xch scan
- migrate.py   xch migrate assess
- whitelist.py xch whitelist ...
- report.py    xch report build|digest|serve
- util.py      output (table or JSON), common options, writing --out files

A command function takes the parsed args and returns the exit code: 0 all good, 1 checks failed,
2 bad input or usage, 3 infrastructure error (see harness.core.errors). The CLI decides what the
user sees; the library underneath raises XchError subclasses and logs.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from harness import __version__
from harness.core.errors import EXIT_BAD_INPUT, EXIT_INFRA, XchError

# The verbs, in the order `xch --help` lists them.
COMMAND_MODULES: list[str] = [f"harness.cli.{name}" for name in (
    "targets", "lab", "run", "product", "certify", "scan", "migrate", "whitelist", "report")]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xch", description="xinchuang (信创) adaptation and compatibility test harness")
    parser.add_argument("--version", action="version", version=f"xch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return args.func(args)
    except XchError as exc:
        print(f"xch: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("xch: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"xch: error: {exc.filename or ''}: {exc.strerror or exc}".replace(": : ", ": "), file=sys.stderr)
        return EXIT_INFRA
    except Exception as exc:  # a bug: say so in one line, never exit 1 ("checks failed")
        print(f"xch: internal error: {type(exc).__name__}: {exc} (please report it)", file=sys.stderr)
        return EXIT_INFRA

