"""`xch certify`: certify a product on targets (compat, then the suites it asks for) and print the verdicts.

    xch certify products/redis-server --targets lab-arm64,lab-x86 [--baseline SEL] [--suites perf,migration|none]
                [--perf-baseline stored|live] [--perf-criteria F] [--run-dir DIR] [--inventory F] [-n N] [--json]

The work is harness.certify.orchestrate; this module parses the command line and renders the result:
a verdict per target, a check x target table, the problems, the performance table.

On the built-in chroot lab, certify serially (no -n): the lab targets share the host's network
namespace, so two targets cannot run the same service port at once. The lab's VMs (`xch lab up --vm`)
each have their own network stack: `-n 2` and `--perf-baseline live` are safe there, and `--fresh`
returns every selected VM to its base image first, so residue checks see only this product.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from harness import runs
from harness.cli.util import emit, inventory_options, json_option, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("certify", help="run the compatibility suite for a product and write evidence bundles")
    p.add_argument("product", metavar="PRODUCT", help="product folder or product.toml")
    inventory_options(p)
    p.add_argument("--run-dir", metavar="DIR", help="run folder (default: results/<run-id>)")
    p.add_argument("--resume", metavar="RUN_DIR", default=None,
                   help="finish an interrupted certification: compat again on targets it did not finish, "
                        "each suite where it did not run to the end")
    p.add_argument("-n", dest="workers", type=int, default=None, metavar="N",
                   help="parallel workers for the compat suite, one target each (safe on lab VMs; not on the "
                        "chroot lab, whose targets share the host network)")
    p.add_argument("--fresh", action="store_true",
                   help="first return every selected lab VM to its base image (`xch lab reset`), so nothing an "
                        "earlier product left is there")
    p.add_argument("--suites", metavar="LIST", default=None,
                   help="suites after compat: perf,migration or none (default: the product's [certify] suites)")
    p.add_argument("--baseline", metavar="SEL", default=None,
                   help="the x86 baseline (perf comparison, parity source); default: the one role=baseline target")
    p.add_argument("--perf-baseline", choices=("stored", "live"), default=None,
                   help="stored (default): measure the baseline first, compare with its samples; live: keep the "
                        "product up on the baseline and measure interleaved (targets must not share a network)")
    p.add_argument("--perf-criteria", metavar="FILE", default=None,
                   help="perf criteria TOML (default: whitelist/perf-criteria.toml, with the product's own laid over)")
    json_option(p)
    p.set_defaults(func=cmd_certify)


def cmd_certify(args: argparse.Namespace) -> int:
    """Compat, then the planned suites; SIGTERM/SIGINT stop it cleanly (the deployed product is
    removed) and `--resume RUN_DIR` finishes what was left."""
    from harness.certify.orchestrate import CertifyRequest, certify

    _prepare_lab(args)
    request = CertifyRequest(
        product=args.product, targets=args.targets, inventory=args.inventory or [],
        run_dir=Path(args.run_dir) if args.run_dir else None, resume=Path(args.resume) if args.resume else None,
        workers=args.workers or 0,
        suites=None if args.suites is None else [s.strip() for s in args.suites.split(",")
                                                 if s.strip() and s.strip() != "none"],
        baseline=args.baseline, perf_baseline=args.perf_baseline, perf_criteria=args.perf_criteria, quiet=args.json)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = certify(request)
    except KeyboardInterrupt:
        run = request.active_run_dir
        print("xch certify: interrupted" + (f"; finish it with: xch certify {args.product} --resume {run}"
                                             if run else ""), file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    if result.early_exit:
        return result.exit_code
    data = _certify_data(result.product, result.run_dir, result.per_target, result.bundles)
    data.update(suites=["compat", *result.plan.suites], notes=result.plan.notes,
                baseline=result.plan.baseline.name if result.plan.baseline else None,
                sub_runs=result.sub_runs, resumed=bool(args.resume))
    emit(args, data, lambda: _certify_text(data))
    return result.exit_code


def _prepare_lab(args: argparse.Namespace) -> None:
    """--fresh: reset the selected lab VMs; -n on chroot-lab targets: warn (they share the host network)."""
    if not args.fresh and not (args.workers or 0) > 1:
        return
    from harness.cli.util import load_selected_inventory
    from harness.core.errors import InputError

    selected = load_selected_inventory(args).select(args.targets or "*")
    chroot = [t.name for t in selected if t.labels.get("lab") == "true"]
    if (args.workers or 0) > 1 and chroot:
        print(f"xch certify: warning: {', '.join(chroot)} belong to the chroot lab, whose targets share the host "
              "network: two of them cannot hold the same port at once; certify them without -n "
              "(the lab VMs of `xch lab up --vm` have their own networks)", file=sys.stderr)
    if not args.fresh:
        return
    if args.resume:
        raise InputError("--fresh cannot be combined with --resume: a reset would drop what the run being resumed "
                         "left on its targets")
    from harness.core.paths import project_dir
    from harness.lab.vm import is_vm_name, vm_reset

    vms = [t.name for t in selected if t.labels.get("kind") == "vm" and is_vm_name(t.name)]
    others = [t.name for t in selected if t.name not in vms]
    if others:
        print(f"xch certify: --fresh: {', '.join(others)} {'is' if len(others) == 1 else 'are'} not a lab VM and "
              "cannot be reset; certified as found", file=sys.stderr)
    if vms:
        print(f"xch certify: --fresh: resetting {', '.join(vms)} to their base images...", file=sys.stderr)
        vm_reset(project_dir(), vms)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _certify_data(product: Any, run_dir: Path, per_target: dict[str, list[dict[str, Any]]],
                  bundles: list[dict[str, Any]]) -> dict[str, Any]:
    by_target = {b["target"]: b for b in bundles}
    targets = []
    for name, records in sorted(per_target.items()):
        b = by_target[name]
        targets.append({"target": name, "verdict": b["verdict"], **runs.counts(records),
                        "duration_s": round(sum(float(r.get("duration_s") or 0) for r in records), 1),
                        "bundle": b["file"], "bundle_sha256": b["sha256"], "bundle_sm3": b["sm3"],
                        "checks": [{**{k: r.get(k) for k in ("check_id", "level", "outcome", "reason", "duration_s")},
                                    "suite": r.get("suite", "compat"), "label": label}
                                   for r, label in zip(records, runs.check_labels(records), strict=True)],
                        "metrics": [_metric_row(r, m) for r in records for m in r.get("metrics") or []
                                    if not m.get("name", "").startswith("resource.")]})
    return {"product": product.identity(), "run_id": run_dir.name, "run_dir": str(run_dir), "targets": targets}


def _metric_row(record: dict[str, Any], metric: dict[str, Any]) -> dict[str, Any]:
    """One measured metric, flattened for the certify table and JSON (the record keeps every sample)."""
    base = metric.get("baseline") or {}
    value = metric.get("value", metric.get("median"))
    return {"check": record["check_id"], "metric": metric["name"], "unit": metric.get("unit", ""),
            "value": value, "vs_baseline": base.get("ratio"),
            "ci": [base.get("ci_low"), base.get("ci_high")] if base else None,
            "baseline_target": base.get("target"), "status": base.get("status"), "verdict": metric.get("verdict"),
            "emulation": metric.get("emulation")}


def _fmt(value: Any, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def _certify_text(data: dict[str, Any]) -> str:
    p = data["product"]
    head = f"\n{p['vendor']} {p['name']} {p['version']} ({p['id']}, {p['category']})  run {data['run_id']}\n"
    verdicts = table(data["targets"], ["target", "verdict", *runs.OUTCOMES, "duration_s", "bundle"])
    names = [t["target"] for t in data["targets"]]
    matrix: dict[str, dict[str, str]] = {}
    levels: dict[str, str] = {}
    for t in data["targets"]:
        for c in t["checks"]:
            matrix.setdefault(c["label"], {})[t["target"]] = c["outcome"]
            levels[c["label"]] = c["level"]
    rows = [{"check": cid, "level": levels[cid], **cells} for cid, cells in matrix.items()]
    text = head + verdicts + "\n\n" + table(rows, ["check", "level", *names])
    problems = [{"target": t["target"], "check": c["label"], "outcome": c["outcome"],
                 "reason": (c["reason"] or "").splitlines()[0][:110] if c["reason"] else ""}
                for t in data["targets"] for c in t["checks"] if c["outcome"] in ("failed", "error")]
    if problems:
        text += "\n\n" + table(problems, ["target", "check", "outcome", "reason"])
    measured = [{"target": t["target"], "metric": m["metric"], "value": f"{_fmt(m['value'])} {m['unit']}",
                 "vs baseline": (f"{_fmt(m['vs_baseline'], 3)} [{_fmt(m['ci'][0], 3)}, {_fmt(m['ci'][1], 3)}] "
                                 f"{m['status'] or ''}" if m["vs_baseline"] is not None else "-"),
                 "verdict": m["verdict"] or "-"} for t in data["targets"] for m in t["metrics"]]
    if measured:
        text += "\n\n性能 performance" + (f" (baseline {data['baseline']})" if data.get("baseline") else "") + "\n"
        text += table(measured, ["target", "metric", "value", "vs baseline", "verdict"])
        if any(m["emulation"] for t in data["targets"] for m in t["metrics"]):
            text += ("\n注意 note: timings from emulated targets (qemu-user, TCG) measure emulation, not the "
                     "silicon / 仿真目标的计时反映的是仿真而非真实硬件")
    for note in data.get("notes") or []:
        text += f"\nnote: {note}"
    return text + "\n\n判定 verdict: " + ", ".join(f"{t['target']}={t['verdict']}" for t in data["targets"])
