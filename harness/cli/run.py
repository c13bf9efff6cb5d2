"""`xch run` (a suite across targets, recorded in a run folder) and `xch results show` (a run's summary)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness import runs
from harness.cli.util import emit, inventory_options, json_option, table
from harness.core.errors import InputError


def cmd_run(args: argparse.Namespace) -> int:
    from harness.runs.runner import RunRequest, run_suite

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
        text = f"\nrun {run_dir.name}  ({run_dir})\n" + table(summary, ["target", *runs.OUTCOMES])
        if problems:
            rows = [{**r, "reason": (r.get("reason") or "").splitlines()[0][:100] if r.get("reason") else ""} for r in problems]
            text += "\n\n" + table(rows, ["target", "check_id", "level", "outcome", "reason"])
        return text

    emit(args, data, human)
    return runs.exit_code_for(latest)


def cmd_results_show(args: argparse.Namespace) -> int:
    run_dir = Path(args.run).resolve()
    runs.load_run(run_dir)
    return summarise(run_dir, args)


def register(sub: argparse._SubParsersAction) -> None:
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
