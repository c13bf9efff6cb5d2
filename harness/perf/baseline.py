"""Where a perf check's baseline comes from.

Two sources, chosen on the command line (see harness.perf.plugin):

- `--baseline SEL`: another target of the same inventory (e.g. `role=baseline`). A check on a
  candidate target opens its own connection to the baseline and measures both *interleaved*
  (candidate, baseline, baseline, candidate, ...), so slow drift in the lab lands on both sides
  alike; both sides' samples go into the candidate's metric record. The baseline target, when it
  is itself among --targets, is measured alone (baseline null): a target is not its own baseline.
- `--baseline-run results/<id>`: the samples recorded for the same check and metric in an
  earlier run folder (optionally `--baseline SEL` picks which of its targets). The benchmark
  parameters must be equal, else no comparison is made and the record says why. Measured at
  another time, this comparison cannot cancel drift: prefer a live baseline where possible.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import runs
from harness.core.errors import InputError
from harness.inventory import Inventory, Target


def resolve_live(inventory: Inventory, selector: str) -> Target:
    """The one inventory target `selector` names (a name or key=value label)."""
    chosen = inventory.select(selector)
    if len(chosen) != 1:
        names = ", ".join(t.name for t in chosen)
        raise InputError(f"--baseline {selector}: must select exactly one target, selects {len(chosen)} ({names})")
    return chosen[0]


@dataclass
class StoredBaseline:
    """The latest records of one target of an earlier run."""

    run_dir: Path
    run_id: str
    target: str
    facts: dict[str, Any]
    records: list[dict[str, Any]]

    @property
    def label(self) -> str:
        return f"{self.target}@{self.run_id}"

    def metric(self, check_id: str, name: str, test_name: str | None = None) -> dict[str, Any] | None:
        """The stored metric `name` of check `check_id` (preferring the same test function)."""
        candidates = [r for r in self.records if r.get("check_id") == check_id and r.get("outcome") != "skipped"]
        if test_name:
            same = [r for r in candidates if _test_func(r.get("test_id", "")) == test_name]
            candidates = same or candidates
        for record in candidates:
            for metric in record.get("metrics") or []:
                if metric.get("name") == name and metric.get("samples"):
                    return metric
        return None


def _test_func(test_id: str) -> str:
    return test_id.split("::")[-1].split("[")[0]


def load_stored(run_dir: Path, selector: str | None) -> StoredBaseline:
    """Read `run_dir` and pick its baseline target: `selector` (name or label, matched against the
    run's recorded targets), else its only target, else its one target labelled role=baseline."""
    run_dir = Path(run_dir)
    info = runs.load_run(run_dir)  # InputError when it is not a run folder
    latest = runs.latest_records(runs.read_results(run_dir).records)
    recorded = info.get("targets") or [{"name": n, "labels": {}} for n in sorted({r["target"] for r in latest})]
    targets = [Target(name=t["name"], labels=dict(t.get("labels") or {})) for t in recorded]
    if selector:
        chosen = [t for t in targets if any(t.matches(s.strip()) for s in selector.split(",") if s.strip())]
    elif len(targets) == 1:
        chosen = targets
    else:
        chosen = [t for t in targets if t.labels.get("role") == "baseline"]
    names = ", ".join(t.name for t in targets) or "none"
    if len(chosen) != 1:
        how = f"--baseline {selector}" if selector else "no --baseline and no single role=baseline target"
        raise InputError(f"--baseline-run {run_dir}: {how} picks {len(chosen)} of its targets ({names}); "
                         "name exactly one with --baseline NAME")
    name = chosen[0].name
    mine = [r for r in latest if r.get("target") == name]
    if not any(r.get("metrics") for r in mine):
        raise InputError(f"--baseline-run {run_dir}: target {name} has no perf metrics recorded there")
    facts = (info.get("facts") or {}).get(name) or {}
    return StoredBaseline(run_dir=run_dir, run_id=info.get("run_id") or run_dir.name, target=name, facts=facts,
                          records=mine)
