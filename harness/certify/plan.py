"""What a certification runs, decided and validated before anything starts, and kept for --resume.

`plan()` turns the product's `[certify] suites` (or --suites), --baseline and the perf options into a
SuitePlan; the plan is written to `certify-plan.json` in the run folder so `--resume` carries on
with the same one, and `recorded_certification` checks a folder to resume is this product's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import runs
from harness.core.errors import InputError, XchError
from harness.inventory import Inventory, Target
from harness.product import Product

COMPAT_SUITE = "compat"
PERF_PRODUCT_CHECKS = Path("suites") / "perf" / "test_product.py"
MIGRATION_SUITE = "migration"
PLAN_FILE = "certify-plan.json"  # the suites, baseline and perf options, for --resume


@dataclass
class SuitePlan:
    """What certify runs after compat, decided (and validated) before anything starts."""

    suites: list[str]
    baseline: Target | None
    perf_criteria: str | None = None
    perf_baseline: str = "stored"  # or "live": the baseline stays up and is measured interleaved
    unrunnable: dict[str, str] = field(default_factory=dict)  # suite the product asked for -> why it cannot run

    def settings(self) -> dict[str, Any]:
        """What `--resume` needs to carry on with the same plan (certify-plan.json in the run folder)."""
        return {"suites": self.suites + list(self.unrunnable), "baseline": self.baseline.name if self.baseline else None,
                "perf_baseline": self.perf_baseline, "perf_criteria": self.perf_criteria}
    notes: list[str] = field(default_factory=list)


def plan(product: Product, inventory: Inventory, requested: list[str] | None, baseline: str | None,
         perf_criteria: str | None, perf_baseline: str = "stored", selected: list[Target] | None = None) -> SuitePlan:
    """The suites to run (`requested` overrides the manifest's [certify] suites) and the baseline.

    Without --baseline, a `role=baseline` target is used when the inventory has exactly one, or when
    exactly one of the selected targets has that role (the chroot lab and the VM lab each have one).
    """
    suites = product.certify_suites if requested is None else requested
    for name in suites:
        if name not in ("perf", "migration"):
            raise InputError(f"--suites: unknown suite {name!r} (expected perf, migration or none; compat always runs)")
    chosen: Target | None = None
    if baseline:
        found = inventory.select(baseline)
        if len(found) != 1:
            raise InputError(f"--baseline {baseline}: must select exactly one target, selects "
                             f"{', '.join(t.name for t in found)}")
        chosen = found[0]
    elif suites:
        try:
            found = inventory.select("role=baseline")
        except XchError:
            found = []
        if len(found) > 1 and selected:
            names = {t.name for t in selected}
            found = [t for t in found if t.name in names]
        chosen = found[0] if len(found) == 1 else None
    notes = []
    if "migration" in suites and product.parity_file is None:
        raise InputError(f"--suites migration: {product.path} declares no [migration] parity file to run")
    unrunnable = {}
    if "migration" in suites and chosen is None:  # asked for, cannot run: an error record per target says so
        unrunnable["migration"] = "no baseline target to be the parity source: give --baseline SEL"
        suites = [s for s in suites if s != "migration"]
    if "perf" in suites and not product.workloads and "service" not in (product.extra.get("perf") or {}):
        notes.append("perf: the product declares no [[workloads]] and no [perf.service]: not run")
        suites = [s for s in suites if s != "perf"]
    if "perf" in suites and chosen is None:
        notes.append("perf: no baseline target: metrics are measured without a baseline comparison")
    if perf_criteria and not Path(perf_criteria).is_file():
        raise InputError(f"--perf-criteria {perf_criteria}: no such file")
    perf_criteria = str(Path(perf_criteria).resolve()) if perf_criteria else None  # sub-runs start elsewhere
    if perf_baseline not in ("stored", "live"):
        raise InputError(f"--perf-baseline {perf_baseline}: expected stored or live")
    return SuitePlan(suites=list(suites), baseline=chosen, perf_criteria=perf_criteria, notes=notes,
                     perf_baseline=perf_baseline, unrunnable=unrunnable)


def recorded_certification(run_dir: Path, product: Product) -> dict[str, Any]:
    """The arguments of the certification in `run_dir`, checked to be of this product."""
    recorded = runs.load_run(run_dir).get("args", {})
    if recorded.get("suite") != COMPAT_SUITE or not recorded.get("product"):
        raise InputError(f"--resume {run_dir}: not a certification run folder (its suite is "
                         f"{recorded.get('suite')!r})")
    if Path(recorded["product"]).resolve() != product.path.resolve():
        raise InputError(f"--resume {run_dir}: it certifies {recorded['product']}, not {product.path}")
    return recorded


def recorded_plan(run_dir: Path) -> dict[str, Any]:
    path = run_dir / PLAN_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the certification's plan: {exc}") from None
