"""`xch product validate|inspect` and `xch certify`: vendor submissions on the command line.

    xch product validate products/redis-server [--json]     every manifest problem at once (exit 2)
    xch product inspect products/redis-server [--arch A] [--json]
                                                             ELF machine/class/glibc/NEEDED/RPATH, jars, wheels
    xch certify products/redis-server --targets lab-arm64,lab-x86 [--baseline SEL] [--suites perf,migration|none]
                [--perf-baseline stored|live] [--perf-criteria F] [--run-dir DIR] [--inventory F] [-n N] [--json]
                                                             the compat suite, then the perf and migration suites the
                                                             product asks for ([certify] suites), a verdict per
                                                             target, evidence bundles (see harness/certify.py)

On the built-in lab, certify serially (no -n): the lab targets share the host's network
namespace, so two targets cannot run the same service port at once.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

from harness.core.storage import atomic_write_json
from harness import runs
from harness.cliutil import emit, inventory_options, json_option, project_dir, table
from harness.core.errors import EXIT_BAD_INPUT, EXIT_OK, InputError, XchError
from harness.evidence import write_bundle

COMPAT_SUITE = "compat"
PLAN_FILE = "certify-plan.json"  # the suites, baseline and perf options, for --resume


def register(sub: argparse._SubParsersAction) -> None:
    product = sub.add_parser("product", help="vendor submissions: validate and inspect product.toml")
    psub = product.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    p = psub.add_parser("validate", help="check a product manifest; every problem is reported at once")
    p.add_argument("path", metavar="PATH", help="product folder or product.toml")
    json_option(p), p.set_defaults(func=cmd_validate)
    p = psub.add_parser("inspect", help="fetch and unpack the artifacts; list ELF files, jars and wheels")
    p.add_argument("path", metavar="PATH", help="product folder or product.toml")
    p.add_argument("--arch", help="only artifacts for this architecture (aarch64, x86_64...)")
    json_option(p), p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("certify", help="run the compatibility suite for a product and write evidence bundles")
    p.add_argument("product", metavar="PRODUCT", help="product folder or product.toml")
    inventory_options(p)
    p.add_argument("--run-dir", metavar="DIR", help="run folder (default: results/<run-id>)")
    p.add_argument("--resume", metavar="RUN_DIR", default=None,
                   help="finish an interrupted certification: compat again on targets it did not finish, "
                        "each suite where it did not run to the end")
    p.add_argument("-n", dest="workers", type=int, default=None, metavar="N",
                   help="parallel workers for the compat suite, one target each (not on the built-in lab: shared network)")
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


# -- validate -----------------------------------------------------------------------------------------

def cmd_validate(args: argparse.Namespace) -> int:
    from harness.product import describe, load_product

    try:
        product = load_product(args.path)
    except InputError as exc:
        if not args.json:
            raise
        lines = exc.message.splitlines()
        emit(args, {"valid": False, "path": str(args.path), "error": lines[0],
                    "problems": [line.strip()[2:] for line in lines[1:] if line.strip().startswith("- ")]}, str)
        return EXIT_BAD_INPUT
    data = {"valid": True, **describe(product)}

    def human() -> str:
        life = product.lifecycle
        rows = [
            {"field": "id", "value": product.id}, {"field": "vendor", "value": product.vendor},
            {"field": "name", "value": product.name}, {"field": "version", "value": product.version},
            {"field": "category", "value": product.category}, {"field": "contact", "value": product.contact},
            {"field": "platforms", "value": ", ".join(p.label() for p in product.platforms)},
            {"field": "artifacts", "value": ", ".join(f"{a.arch}:{a.describe()}" for a in product.artifacts)},
            {"field": "service", "value": life.service or (f"start: {life.start}" if life.start else "-")},
            {"field": "ports", "value": ", ".join(map(str, life.ports)) or "-"},
            {"field": "health", "value": life.health.type if life.health else "-"},
            {"field": "smoke tests", "value": str(len(product.smoke))},
        ]
        return f"{product.path}: valid\n" + table(rows, ["field", "value"])

    emit(args, data, human)
    return EXIT_OK


# -- inspect ------------------------------------------------------------------------------------------

def cmd_inspect(args: argparse.Namespace) -> int:
    from harness import artifacts
    from harness.product import canonical_arch, load_product

    product = load_product(args.path)
    archs = None
    if args.arch:
        arch = canonical_arch(args.arch)
        if arch is None or arch == "all":
            raise InputError(f"--arch {args.arch!r}: expected an architecture such as aarch64 or x86_64")
        archs = [arch]
    reports = []
    for fetched in artifacts.fetch_product(product, archs):
        report = artifacts.inspect_cached(fetched)
        reports.append({"artifact": fetched.artifact.describe(), "arch": fetched.artifact.arch,
                        "sha256": fetched.sha256, "sm3": fetched.sm3, **report})
    if not reports:
        raise InputError(f"{product.path}: no artifacts" + (f" for {archs[0]}" if archs else ""))

    def human() -> str:
        summary = [{"artifact": r["artifact"], "arch": r["arch"], "package": f"{r['package']['name']} "
                    f"{r['package']['version']} ({r['package']['architecture']})",
                    "elf": r["summary"]["elf_count"],
                    "machines": ",".join(f"{m}:{n}" for m, n in r["summary"]["machines"].items()) or "-",
                    "glibc_max": r["summary"]["glibc_max"] or "-", "jars": len(r["jars"]), "wheels": len(r["wheels"]),
                    "sha256": r["sha256"][:16] + "…"} for r in reports]
        text = table(summary, ["artifact", "arch", "package", "elf", "machines", "glibc_max", "jars", "wheels", "sha256"])
        elves = [{"file": e["path"], "arch": r["arch"], "machine": e["machine"], "class": e["class"],
                  "glibc": e["glibc"] or "-", "needed": ", ".join(e["needed"][:6]) + (" …" if len(e["needed"]) > 6 else ""),
                  "rpath/runpath": ":".join(e["rpath"] + e["runpath"]) or "-"}
                 for r in reports for e in artifacts.all_elves(r)]
        if elves:
            text += "\n\n" + table(elves, ["file", "arch", "machine", "class", "glibc", "needed", "rpath/runpath"])
        for r in reports:
            for w in r["wheels"]:
                text += f"\nwheel {w['path']}: platforms {', '.join(w['platforms'])}"
            for j in r["jars"]:
                if j["native"]:
                    text += f"\njar {j['path']}: native {', '.join(n['path'].split('!')[-1] + ' (' + n['machine'] + ')' for n in j['native'])}"
        return text

    emit(args, reports, human)
    return EXIT_OK


# -- certify ------------------------------------------------------------------------------------------

def cmd_certify(args: argparse.Namespace) -> int:
    """Compat, then the planned suites; SIGTERM/SIGINT stop it cleanly (the deployed product is
    removed) and `--resume RUN_DIR` finishes what was left."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _certify(args)
    except KeyboardInterrupt:
        run = getattr(args, "_run_dir", None)
        print("xch certify: interrupted" + (f"; finish it with: xch certify {args.product} --resume {run}"
                                             if run else ""), file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _certify(args: argparse.Namespace) -> int:
    from harness import artifacts
    from harness.certify import Certification, plan, say
    from harness.inventory import load_inventory
    from harness.product import load_product, manifest_path
    from harness.runner import RunRequest, run_suite

    product = load_product(args.product)
    if args.resume:
        if args.run_dir:
            raise InputError("--resume RUN_DIR and --run-dir DIR exclude each other")
        recorded = _recorded_certification(Path(args.resume), product)
        args.targets = args.targets or recorded.get("targets")
        args.inventory = args.inventory or recorded.get("inventory")
        earlier = _recorded_plan(Path(args.resume))  # the same plan, unless the command line says otherwise
        if args.suites is None and earlier.get("suites") is not None:
            args.suites = ",".join(earlier["suites"]) or "none"
        args.baseline = args.baseline or earlier.get("baseline")
        args.perf_baseline = args.perf_baseline or earlier.get("perf_baseline")
        args.perf_criteria = args.perf_criteria or earlier.get("perf_criteria")
    inventory_files = [str(Path(f).resolve()) for f in args.inventory or []]
    inventory = load_inventory([Path(f) for f in inventory_files] or None, project_dir())
    selected = inventory.select(args.targets or "*")
    requested = None if args.suites is None else [s.strip() for s in args.suites.split(",")
                                                   if s.strip() and s.strip() != "none"]
    suite_plan = plan(product, inventory, requested, args.baseline, args.perf_criteria, args.perf_baseline or "stored")
    try:  # fetch before the run, so a missing package is reported once, up front
        artifacts.fetch_product(product)
    except XchError as exc:
        print(f"xch certify: artifacts: {exc.message}", file=sys.stderr)
        if isinstance(exc, InputError):
            return exc.exit_code
    if args.resume:
        run_dir = args._run_dir = Path(args.resume).resolve()
    else:
        planned_dir = Path(args.run_dir) if args.run_dir else project_dir() / "results" / runs.new_run_id(COMPAT_SUITE)
        if (planned_dir / runs.RESULTS).exists():
            raise InputError(f"--run-dir {planned_dir}: this folder already holds a run; finish it with "
                             f"xch certify {args.product} --resume {planned_dir}, or choose a new folder")
        planned_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(planned_dir / PLAN_FILE, suite_plan.settings())
        request = RunRequest(suite=COMPAT_SUITE, targets=args.targets or "*",
                             product=str(manifest_path(args.product).resolve()), inventory=inventory_files,
                             workers=args.workers or 0, run_dir=planned_dir)
        outcome = run_suite(request, quiet=args.json)
        run_dir = args._run_dir = outcome.run_dir
        if outcome.interrupted:
            raise KeyboardInterrupt
        if not outcome.records and outcome.exit_code:
            return outcome.exit_code
    for note in suite_plan.notes:
        say(note)
    certification = Certification(product, inventory, run_dir, selected, suite_plan, inventory_files, quiet=args.json)
    if suite_plan.suites or suite_plan.unrunnable or args.resume:
        certification.run(resume=bool(args.resume))
    latest = runs.latest_records(runs.read_results(run_dir).records)
    per_target, bundles = _bundles(run_dir, product, suite_plan.suites, {t.name for t in selected})
    data = _certify_data(product, run_dir, per_target, bundles)
    data.update(suites=["compat", *suite_plan.suites], notes=suite_plan.notes,
                baseline=suite_plan.baseline.name if suite_plan.baseline else None,
                sub_runs=certification.sub_runs, resumed=bool(args.resume))
    emit(args, data, lambda: _certify_text(data))
    return runs.exit_code_for([r for r in latest if r["target"] in per_target])


def _recorded_certification(run_dir: Path, product: Any) -> dict[str, Any]:
    """The arguments of the certification in `run_dir`, checked to be of this product."""
    recorded = runs.load_run(run_dir).get("args", {})
    if recorded.get("suite") != COMPAT_SUITE or not recorded.get("product"):
        raise InputError(f"--resume {run_dir}: not a certification run folder (its suite is "
                         f"{recorded.get('suite')!r})")
    if Path(recorded["product"]).resolve() != product.path.resolve():
        raise InputError(f"--resume {run_dir}: it certifies {recorded['product']}, not {product.path}")
    return recorded


def _recorded_plan(run_dir: Path) -> dict[str, Any]:
    path = run_dir / PLAN_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the certification's plan: {exc}") from None


def _bundles(run_dir: Path, product: Any, suites: list[str], selected: set[str]
             ) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """One evidence bundle per selected target, its checks in the order they ran (the order of
    results.jsonl: compat's lifecycle order, then the other suites)."""
    from harness.certify import sub_run_log_dirs

    loaded = runs.read_results(run_dir).records
    per_target: dict[str, list[dict[str, Any]]] = {}
    for record in runs.latest_records(loaded):
        if record["target"] in selected:
            per_target.setdefault(record["target"], []).append(record)
    position = {runs.record_key(r): i for i, r in enumerate(loaded)}
    bundles = []
    for target, records in sorted(per_target.items()):
        records.sort(key=lambda r: position.get(runs.record_key(r), 0))
        bundles.append(write_bundle(run_dir, product.id, target, records, product_toml=product.path,
                                    extra={"certify_s": round(sum(float(r.get("duration_s") or 0) for r in records), 1),
                                           "suites": ["compat", *suites]},
                                    extra_logs=sub_run_log_dirs(run_dir, target),
                                    submission=product.submission_files()))
    return per_target, bundles


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
                                   for r, label in zip(records, runs.check_labels(records))],
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
            text += ("\n注意 note: timings from emulated targets (qemu-user) measure emulation, not the "
                     "silicon / 仿真目标的计时反映的是仿真而非真实硬件")
    for note in data.get("notes") or []:
        text += f"\nnote: {note}"
    return text + "\n\n判定 verdict: " + ", ".join(f"{t['target']}={t['verdict']}" for t in data["targets"])
