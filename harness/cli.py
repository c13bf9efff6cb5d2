"""The `xch` command line.

Exit codes: 0 all good, 1 checks failed, 2 bad input or usage, 3 infrastructure error.
Every command that prints data takes --json; human output is tables (tabulate).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness import __version__, runs
from harness.cliutil import emit as _emit
from harness.cliutil import inventory_options, json_option
from harness.cliutil import project_dir as _project_dir
from harness.cliutil import table as _table
from harness.core.errors import EXIT_BAD_INPUT, EXIT_INFRA, EXIT_OK, InputError, XchError
from harness.inventory import Inventory, Target, load_inventory

# Modules that add their own subcommands with `register(sub)`.
COMMAND_MODULES: list[str] = ["harness.cli_migrate", "harness.cli_whitelist", "harness.cli_product", "harness.cli_report"]


def _load(args: argparse.Namespace) -> Inventory:
    files = [Path(f) for f in (getattr(args, "inventory", None) or [])]
    return load_inventory(files or None, _project_dir())


# -- targets ---------------------------------------------------------------------------------

def cmd_targets_list(args: argparse.Namespace) -> int:
    selected = _load(args).select(args.targets)
    rows = [t.public_dict() for t in selected]
    _emit(args, rows, lambda: _table(
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
    inventory = _load(args)
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
        return _table(flat, ["target", "reachable", "arch", "cpu", "os", "kernel", "glibc", "cores", "mem_mb", "error"])

    _emit(args, rows, human)
    return EXIT_OK if all(r["reachable"] for r in rows) else EXIT_INFRA


# -- lab -------------------------------------------------------------------------------------

def cmd_lab_up(args: argparse.Namespace) -> int:
    from harness import lab

    extra = []
    if args.rootfs:
        if not (args.name and args.arch):
            raise InputError("--rootfs needs --name NAME and --arch aarch64|x86_64")
        if args.arch not in ("aarch64", "x86_64"):
            raise InputError(f"--arch must be aarch64 or x86_64, got {args.arch!r}")
        extra.append(lab.RootfsSpec(file=Path(args.rootfs).resolve(), name=args.name, arch=args.arch))
    rows = lab.lab_up(_project_dir(), extra=extra or None)
    _emit(args, rows, lambda: _table(rows, ["name", "arch", "host", "port", "status"])
          + "\ninventory: targets/lab.toml (lab-arm64 runs under qemu-user emulation: its timings are not ARM silicon)")
    return EXIT_OK


def cmd_lab_status(args: argparse.Namespace) -> int:
    from harness import lab

    rows = lab.lab_status(_project_dir())
    _emit(args, rows, lambda: _table(rows, ["name", "arch", "address", "port", "built", "running", "answering"])
          if rows else "lab: nothing built or running")
    return EXIT_OK


def cmd_lab_down(args: argparse.Namespace) -> int:
    from harness import lab

    done = lab.lab_down(_project_dir())
    _emit(args, done, lambda: "\n".join(done) or "lab: nothing to stop")
    return EXIT_OK


# -- run -------------------------------------------------------------------------------------

def cmd_run(args: argparse.Namespace) -> int:
    from harness.runner import RunRequest, run_suite

    if args.resume:
        request = RunRequest.from_resume(Path(args.resume).resolve(), suite=args.suite, targets=args.targets,
                                         product=args.product, inventory=args.inventory, workers=args.workers,
                                         baseline=args.baseline, baseline_run=args.baseline_run,
                                         perf_criteria=args.perf_criteria)
    elif not args.suite:
        raise InputError("xch run needs --suite SUITE (or --resume RUN)")
    else:
        request = RunRequest(suite=args.suite, targets=args.targets or "*", product=args.product,
                             inventory=[str(Path(f).resolve()) for f in args.inventory or []],
                             workers=args.workers or 0, shard=args.shard,
                             baseline=args.baseline, perf_criteria=args.perf_criteria,
                             baseline_run=str(Path(args.baseline_run).resolve()) if args.baseline_run else None,
                             run_dir=Path(args.run_dir) if args.run_dir else None)
    request.pytest_args = args.pytest_args
    outcome = run_suite(request, quiet=args.json)
    if not outcome.records and outcome.exit_code:
        return outcome.exit_code
    return summarise(outcome.run_dir, args)


def summarise(run_dir: Path, args: argparse.Namespace) -> int:
    """Print the per-target table and the failed/errored checks; return the run's exit code."""
    loaded = runs.read_results(run_dir)
    latest = runs.latest_records(loaded.records)
    per_target: dict[str, list[dict[str, Any]]] = {}
    for record in latest:
        per_target.setdefault(record["target"], []).append(record)
    summary = [{"target": name, **runs.counts(items)} for name, items in sorted(per_target.items())]
    problems = [r for r in latest if r["outcome"] in ("failed", "error")]
    data = {"run_id": run_dir.name, "run_dir": str(run_dir), "summary": summary, "totals": runs.counts(latest),
            "problems": [{k: r.get(k) for k in ("target", "check_id", "level", "outcome", "reason")} for r in problems]}

    def human() -> str:
        text = f"\nrun {run_dir.name}  ({run_dir})\n" + _table(summary, ["target", *runs.OUTCOMES])
        if problems:
            rows = [{**r, "reason": (r.get("reason") or "").splitlines()[0][:100] if r.get("reason") else ""} for r in problems]
            text += "\n\n" + _table(rows, ["target", "check_id", "level", "outcome", "reason"])
        return text

    _emit(args, data, human)
    return runs.exit_code_for(latest)


def cmd_results_show(args: argparse.Namespace) -> int:
    run_dir = Path(args.run).resolve()
    runs.load_run(run_dir)
    return summarise(run_dir, args)


# -- parser ----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xch", description="xinchuang (信创) adaptation and compatibility test harness")
    parser.add_argument("--version", action="version", version=f"xch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    targets = sub.add_parser("targets", help="list and check inventory targets")
    tsub = targets.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    p = tsub.add_parser("list", help="list the selected targets")
    inventory_options(p), json_option(p), p.set_defaults(func=cmd_targets_list)
    p = tsub.add_parser("check", help="connect to every selected target and print reachability and facts")
    inventory_options(p), json_option(p), p.set_defaults(func=cmd_targets_check)

    lab = sub.add_parser("lab", help="the local lab: emulated arm64 and native x86 targets on loopback")
    lsub = lab.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    p = lsub.add_parser("up", help="build (once) and start the lab; writes targets/lab.toml")
    p.add_argument("--rootfs", metavar="FILE", help="also start this rootfs tarball (e.g. an openEuler export)")
    p.add_argument("--name", help="target name for --rootfs")
    p.add_argument("--arch", help="architecture of --rootfs: aarch64 or x86_64")
    json_option(p), p.set_defaults(func=cmd_lab_up)
    p = lsub.add_parser("status", help="show lab targets")
    json_option(p), p.set_defaults(func=cmd_lab_status)
    p = lsub.add_parser("down", help="stop the lab and unmount what it mounted")
    json_option(p), p.set_defaults(func=cmd_lab_down)

    p = sub.add_parser("run", help="run a suite across targets and record a run folder")
    p.add_argument("--suite", help="suite name under suites/ (smoke, compat, ...) or a path")
    p.add_argument("--product", help="product submission folder or product.toml")
    inventory_options(p)
    p.add_argument("-n", dest="workers", type=int, default=None, metavar="N", help="parallel workers (pytest-xdist)")
    p.add_argument("--shard", metavar="I/N", help="run only the I-th of N deterministic slices of the targets "
                   "(several controllers share a fleet; the whitelist compiles their run folders together)")
    p.add_argument("--baseline", metavar="SEL", help="perf: the baseline target (e.g. role=baseline) every other target is compared with")
    p.add_argument("--baseline-run", metavar="DIR", help="perf: an earlier run folder whose samples are the baseline")
    p.add_argument("--perf-criteria", metavar="FILE", help="perf: criteria file (default whitelist/perf-criteria.toml)")
    p.add_argument("--run-dir", metavar="DIR", help="run folder (default: results/<run-id>)")
    p.add_argument("--resume", metavar="RUN", help="finish an earlier run: only missing and errored checks run")
    json_option(p)
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")
    p.set_defaults(func=cmd_run)

    results = sub.add_parser("results", help="inspect run folders")
    rsub = results.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    p = rsub.add_parser("show", help="summary of a run folder")
    p.add_argument("run", metavar="RUN_DIR")
    json_option(p), p.set_defaults(func=cmd_results_show)
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


if __name__ == "__main__":
    sys.exit(main())
