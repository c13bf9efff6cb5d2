"""`xch certify`: the compat suite, then the perf and migration suites the product asks for.

One certification is one run folder (the compat run). The suites that need the product running
run after it, one target at a time, each in a run folder of its own under `<run>/suites/`:

- perf (`[certify] suites = ["perf"]`, the product's [[workloads]] and [perf.service]): the product
  is installed, started and healthy on the target (harness.product.deploy) while suites/perf/test_product.py
  measures it, then removed. The baseline target goes first and is measured alone; every other
  target is then compared with those stored samples (`--baseline-run`). Measuring the baseline
  live and interleaved would need the product running on both at once, which targets sharing a
  network namespace (the built-in lab) cannot do, and a product's ports would collide.
- migration (`["migration"]` and `[migration] parity = "parity.toml"`): the product is installed (not
  started) on the baseline, the parity source, and on each other target in turn, and the parity
  checks compare the two.

The records of the selected targets are then appended to the certification's own results.jsonl
(with `suite` and `sub_run` fields), so its verdicts, evidence bundles and the whitelist see every
suite in one run. A product that cannot be deployed on a target gets a CERTIFY-DEPLOY-<suite>
record (error, mandatory): the suite did not run there, and the verdict must not read as if it had.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import runs
from harness.certify.evidence import write_bundle
from harness.certify.plan import (
    COMPAT_SUITE,
    MIGRATION_SUITE,
    PERF_PRODUCT_CHECKS,
    PLAN_FILE,
    SuitePlan,
    plan,
    recorded_certification,
    recorded_plan,
)
from harness.core.errors import InputError, XchError
from harness.core.paths import project_dir
from harness.core.storage import atomic_write, atomic_write_json
from harness.inventory import Inventory, Target, load_inventory
from harness.product import Product, load_product, manifest_path
from harness.product.deploy import deployed, remove
from harness.runs.runner import RunRequest, run_suite

SUB_RUNS = "suites"


@dataclass
class CertifyRequest:
    """One `xch certify`, as the command line gave it (None: the product's or the recorded plan's choice)."""

    product: str
    targets: str | None = None
    inventory: list[str] = field(default_factory=list)
    run_dir: Path | None = None
    resume: Path | None = None
    workers: int = 0
    suites: list[str] | None = None
    baseline: str | None = None
    perf_baseline: str | None = None
    perf_criteria: str | None = None
    quiet: bool = False
    # Set as soon as the run folder exists, so a caller that is interrupted can say how to resume.
    active_run_dir: Path | None = None


@dataclass
class CertifyResult:
    product: Product
    run_dir: Path
    plan: SuitePlan
    sub_runs: list[dict[str, Any]]
    per_target: dict[str, list[dict[str, Any]]]  # the selected targets' latest records, in the order they ran
    bundles: list[dict[str, Any]]
    exit_code: int
    early_exit: bool = False  # compat could not start (nothing recorded): exit_code says why


def certify(request: CertifyRequest) -> CertifyResult:
    """Compat on every selected target, then the planned suites, then one evidence bundle per target.

    With `request.resume`, the recorded plan is reused (unless the request says otherwise) and only
    what the interrupted certification left undone runs. KeyboardInterrupt (Ctrl-C, or SIGTERM turned
    into it by the caller) propagates after the deployed product has been removed.
    """
    product = load_product(request.product)
    if request.resume:
        if request.run_dir:
            raise InputError("--resume RUN_DIR and --run-dir DIR exclude each other")
        recorded = recorded_certification(Path(request.resume), product)
        request.targets = request.targets or recorded.get("targets")
        request.inventory = request.inventory or recorded.get("inventory") or []
        earlier = recorded_plan(Path(request.resume))  # the same plan, unless the command line says otherwise
        if request.suites is None and earlier.get("suites") is not None:
            request.suites = list(earlier["suites"])
        request.baseline = request.baseline or earlier.get("baseline")
        request.perf_baseline = request.perf_baseline or earlier.get("perf_baseline")
        request.perf_criteria = request.perf_criteria or earlier.get("perf_criteria")
    inventory_files = [str(Path(f).resolve()) for f in request.inventory or []]
    inventory = load_inventory([Path(f) for f in inventory_files] or None, project_dir())
    selected = inventory.select(request.targets or "*")
    suite_plan = plan(product, inventory, request.suites, request.baseline, request.perf_criteria,
                      request.perf_baseline or "stored", selected)
    _fetch_up_front(product)
    if request.resume:
        run_dir = request.active_run_dir = Path(request.resume).resolve()
    else:
        planned_dir = (Path(request.run_dir) if request.run_dir
                       else project_dir() / "results" / runs.new_run_id(COMPAT_SUITE))
        if (planned_dir / runs.RESULTS).exists():
            raise InputError(f"--run-dir {planned_dir}: this folder already holds a run; finish it with "
                             f"xch certify {request.product} --resume {planned_dir}, or choose a new folder")
        planned_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(planned_dir / PLAN_FILE, suite_plan.settings())
        compat = RunRequest(suite=COMPAT_SUITE, targets=request.targets or "*",
                            product=str(manifest_path(request.product).resolve()), inventory=inventory_files,
                            workers=request.workers or 0, run_dir=planned_dir)
        outcome = run_suite(compat, quiet=request.quiet)
        run_dir = request.active_run_dir = outcome.run_dir
        if outcome.interrupted:
            raise KeyboardInterrupt
        if not outcome.records and outcome.exit_code:
            return CertifyResult(product, run_dir, suite_plan, [], {}, [], outcome.exit_code, early_exit=True)
    for note in suite_plan.notes:
        say(note)
    certification = Certification(product, inventory, run_dir, selected, suite_plan, inventory_files,
                                  quiet=request.quiet)
    if suite_plan.suites or suite_plan.unrunnable or request.resume:
        certification.run(resume=bool(request.resume))
    latest = runs.latest_records(runs.read_results(run_dir).records)
    per_target, bundles = write_bundles(run_dir, product, suite_plan.suites, {t.name for t in selected})
    exit_code = runs.exit_code_for([r for r in latest if r["target"] in per_target])
    return CertifyResult(product, run_dir, suite_plan, certification.sub_runs, per_target, bundles, exit_code)


def _fetch_up_front(product: Product) -> None:
    """Fetch the artifacts before the run, so a missing package is reported once, up front (exit 2);
    a fetch that fails for infrastructure reasons is left to COMPAT-ARTIFACT to record."""
    from harness import artifacts

    try:
        artifacts.fetch_product(product)
    except XchError as exc:
        if isinstance(exc, InputError):
            raise InputError(f"artifacts: {exc.message}") from None
        say(f"artifacts: {exc.message}")


def say(message: str) -> None:
    print(f"xch certify: {message}", file=sys.stderr, flush=True)


@dataclass
class Certification:
    """Runs the planned suites after compat and folds their records into the compat run folder."""

    product: Product
    inventory: Inventory
    run_dir: Path
    targets: list[Target]  # the selected targets (the compat run's)
    plan: SuitePlan
    inventory_files: list[str]
    quiet: bool = False
    sub_runs: list[dict[str, Any]] = field(default_factory=list)
    _facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    _conns: dict[str, Any] = field(default_factory=dict)

    @property
    def selected(self) -> set[str]:
        """Names of the selected targets: only these get records in the certification."""
        return {t.name for t in self.targets}

    def _verb(self, start: bool) -> str:
        return "installing and starting" if start and self.product.lifecycle.has_service else "installing"

    # -- orchestration -----------------------------------------------------------------------------
    def run(self, resume: bool = False) -> None:
        """Run the planned suites; with `resume`, only what an interrupted certification left undone
        (compat of targets it did not finish, and each suite on targets without a finished run)."""
        interrupted = True
        self._set_status("running")  # until the planned suites are done, the whitelist must not import it
        try:
            for suite, why in self.plan.unrunnable.items():
                for target in self.targets:
                    self._deploy_record(suite, target, "error", f"the {suite} suite could not run: {why}", {})
            if resume:
                self._resume_compat()
            for suite in self.plan.suites:
                done = self._done(suite) if resume else set()
                getattr(self, f"_run_{suite}")([t for t in self.targets if t.name not in done])
            interrupted = False
        finally:
            self._record_in_run_json(finished=not interrupted)

    def _done(self, suite: str) -> set[str]:
        """Targets where `suite` ran to the end: deployed, recorded, and nothing ended in error."""
        latest = runs.latest_records(runs.read_results(self.run_dir).records)
        deployed_ok = {r["target"] for r in latest
                       if r["check_id"] == f"CERTIFY-DEPLOY-{suite.upper()}" and r["outcome"] == "passed"}
        recorded = {r["target"] for r in latest if r.get("suite") == suite and not r["check_id"].startswith("CERTIFY-")}
        errored = {r["target"] for r in latest if r.get("suite") == suite and r["outcome"] == "error"}
        return (deployed_ok & recorded) - errored

    def _resume_compat(self) -> None:
        """Compat again, whole, on each target the interrupted run did not finish (the lifecycle checks
        depend on each other, so a half-done target starts over), after removing what it left behind."""
        latest = runs.latest_records(runs.read_results(self.run_dir).records)
        compat = [r for r in latest if r.get("suite", "compat") == "compat" and r["check_id"].startswith("COMPAT-")]
        finished = {r["target"] for r in compat if r["check_id"] == "COMPAT-RESIDUE-001"}
        finished -= {r["target"] for r in compat if r["outcome"] == "error"}
        for target in (t for t in self.targets if t.name not in finished):
            say(f"compat on {target.name}: not finished before; removing what it left of {self.product.id}, "
                "then running it again")
            try:
                left = remove(self._connect(target), self._facts_of(target), self.product)
            except XchError as exc:  # compat itself will record what is wrong with the target
                left = [f"could not clean up: {exc.message}"]
            finally:
                self._close(target)
            if left:
                say(f"compat on {target.name}: {'; '.join(left)}")
            request = RunRequest(suite=COMPAT_SUITE, targets=target.name, product=str(self.product.path),
                                 inventory=self.inventory_files, run_dir=self._sub_dir("compat", target))
            self._suite_run("compat", target, request, {"resumed": True})

    def _run_perf(self, pending: list[Target]) -> None:
        base = self.plan.baseline
        others = [t for t in pending if base is None or t.name != base.name]
        if base is None:
            for target in others:
                self._deployed_run("perf", target, self._perf_request(target), start=True)
        elif self.plan.perf_baseline == "live":
            measure_base = base.name in {t.name for t in pending}
            if others or measure_base:
                self._run_perf_live(base, others, measure_base=measure_base)
        else:
            self._run_perf_stored(base, others)

    def _perf_request(self, target: Target, **baseline: str) -> RunRequest:
        return RunRequest(suite=str(project_dir() / PERF_PRODUCT_CHECKS), targets=target.name,
                          product=str(self.product.path), inventory=self.inventory_files,
                          perf_criteria=self.plan.perf_criteria, run_dir=self._sub_dir("perf", target), **baseline)

    def _sub_dir(self, suite: str, target: Target) -> Path:
        """A fresh folder for a sub-run (a resumed certification never reuses an earlier one's)."""
        path, n = self.run_dir / SUB_RUNS / f"{suite}-{target.name}", 1
        while path.exists():  # '@' cannot be in a target name, so lab-x86@2 is never lab-x86-2's folder
            n += 1
            path = self.run_dir / SUB_RUNS / f"{suite}-{target.name}@{n}"
        return path

    def _finished_sub_run(self, suite: str, target: Target) -> Path | None:
        """The newest finished sub-run of `suite` on `target` that recorded something (for a stored baseline)."""
        found = []
        name = f"{suite}-{target.name}"
        for path in (self.run_dir / SUB_RUNS).glob(f"{name}*"):
            if path.name != name and not (path.name.startswith(name + "@") and path.name[len(name) + 1:].isdigit()):
                continue
            try:
                if runs.load_run(path).get("status") == "finished" and runs.read_results(path).records:
                    found.append(path)
            except XchError:
                continue
        return max(found, key=lambda p: p.stat().st_mtime) if found else None

    def _run_perf_stored(self, base: Target, others: list[Target]) -> None:
        """The baseline measured alone first; every other target compared with its stored samples.
        A resumed certification reuses the baseline's finished run."""
        stored = None
        if base.name in self._done("perf") or base.name not in self.selected:
            stored = self._finished_sub_run("perf", base)
        if stored is None and (others or base.name in self.selected):
            request = self._perf_request(base)
            stored = request.run_dir if self._deployed_run("perf", base, request, start=True) else None
        for target in others:
            if stored is None:
                self.plan.notes.append(f"perf on {target.name}: no baseline samples (the baseline run on "
                                       f"{base.name} did not complete): measured without comparison")
                request = self._perf_request(target)
            else:
                request = self._perf_request(target, baseline_run=str(stored), baseline=base.name)
            self._deployed_run("perf", target, request, start=True)

    def _run_perf_live(self, base: Target, others: list[Target], measure_base: bool = True) -> None:
        """The product stays up on the baseline while each other target is measured interleaved with it
        (--perf-baseline live): the targets must not share a network, or the product's ports collide."""
        say(f"perf: {self._verb(True)} {self.product.id} on the baseline {base.name} (kept: live baseline)")
        try:
            with deployed(self._connect(base), self._facts_of(base), self.product, start=True) as info:
                if measure_base and base.name in self.selected:
                    self._record_deploy("perf", base, info)
                    self._suite_run("perf", base, self._perf_request(base), info)
                for target in others:
                    self._deployed_run("perf", target, self._perf_request(target, baseline=base.name), start=True)
        except XchError as exc:
            for target in [base, *others] if measure_base else others:
                self._deploy_failed("perf", target, f"the live baseline {base.name} could not be deployed: "
                                                    f"{exc.message}")
        finally:
            self._close(base)

    def _run_migration(self, pending: list[Target]) -> None:
        base = self.plan.baseline
        assert base is not None and self.product.parity_file is not None
        others = [t for t in pending if t.name != base.name]
        if not others:
            return
        say(f"migration: installing {self.product.id} on the parity source {base.name}")
        try:
            with deployed(self._connect(base), self._facts_of(base), self.product, start=False):
                for target in others:
                    request = RunRequest(suite=MIGRATION_SUITE, targets=target.name, product=str(self.product.path),
                                         inventory=self.inventory_files,
                                         env={"XCH_PARITY_FILE": str(self.product.parity_file),
                                              "XCH_PARITY_SOURCE": base.name},
                                         run_dir=self._sub_dir("migration", target))
                    self._deployed_run("migration", target, request, start=False)
        except XchError as exc:
            for target in others:
                self._deploy_failed("migration", target, f"parity source {base.name}: {exc.message}")
        finally:
            self._close(base)

    def _deployed_run(self, suite: str, target: Target, request: RunRequest, start: bool) -> bool:
        """Deploy on `target`, run the suite there, remove; False when it could not run."""
        say(f"{suite} on {target.name}: {self._verb(start)} {self.product.id}")
        began = time.monotonic()
        try:
            with deployed(self._connect(target), self._facts_of(target), self.product, start=start) as info:
                say(f"{suite} on {target.name}: deployed in {time.monotonic() - began:.0f}s; running the suite")
                self._record_deploy(suite, target, info)
                return self._suite_run(suite, target, request, info)
        except XchError as exc:
            self._deploy_failed(suite, target, exc.message)
            return False
        finally:
            self._close(target)

    def _suite_run(self, suite: str, target: Target, request: RunRequest, info: dict[str, Any]) -> bool:
        """Run the suite on a target where the product is deployed; record and merge it."""
        outcome = run_suite(request, quiet=self.quiet)
        self.sub_runs.append({"suite": suite, "target": target.name,
                              "run_dir": str(outcome.run_dir.relative_to(self.run_dir)),
                              "exit_code": outcome.exit_code,
                              "deploy": info})  # the same dict: its teardown is filled in when it ends
        self._merge(suite, outcome.run_dir, outcome.records)
        mine = [r for r in outcome.records if r.get("target") == target.name]
        if outcome.interrupted:  # stop here; the `with deployed` around this still removes the product
            self._deploy_record(suite, target, "error", f"the {suite} suite was interrupted: resume it", {})
            raise KeyboardInterrupt
        if not mine or outcome.exit_code == 2:
            self._deploy_record(suite, target, "error", f"the {suite} suite ran but recorded "
                                f"{'nothing' if not mine else 'a usage error'} (exit {outcome.exit_code}); see "
                                f"{outcome.run_dir.relative_to(self.run_dir)}", {})
        return bool(mine)

    # -- records -----------------------------------------------------------------------------------
    def _merge(self, suite: str, sub_dir: Path, records: list[dict[str, Any]]) -> None:
        """Append the sub-run's records of selected targets to the certification's results.jsonl."""
        selected = self.selected
        relative = str(sub_dir.relative_to(self.run_dir))
        for name in selected:  # a target the certification had no facts of yet (compat resumed on it)
            mine, theirs = self.run_dir / "facts" / f"{name}.json", sub_dir / "facts" / f"{name}.json"
            if theirs.is_file() and not mine.is_file():
                mine.parent.mkdir(exist_ok=True)
                atomic_write(mine, theirs.read_text(encoding="utf-8"))
        for record in records:
            if record.get("target") in selected:
                runs.append_record(self.run_dir, {**record, "suite": suite, "sub_run": relative})

    def _deploy_failed(self, suite: str, target: Target, reason: str) -> None:
        say(f"{suite} on {target.name}: not run: {reason}")
        self.sub_runs.append({"suite": suite, "target": target.name, "run_dir": None, "error": reason})
        if target.name not in self.selected:
            self.plan.notes.append(f"{suite}: baseline {target.name} could not be deployed: {reason}")
            return
        self._deploy_record(suite, target, "error", f"the {suite} suite could not run: {reason}", {})

    def _record_deploy(self, suite: str, target: Target, info: dict[str, Any]) -> None:
        """The product is up for the suite on a selected target: a passed CERTIFY-DEPLOY record (which
        also supersedes an earlier attempt's error when a certification is resumed)."""
        if target.name in self.selected:
            self._deploy_record(suite, target, "passed", "", {k: info.get(k) for k in
                                                              ("packages", "started", "install_s", "start_s", "notes")})

    def _deploy_record(self, suite: str, target: Target, outcome: str, reason: str, evidence: dict[str, Any]) -> None:
        runs.append_record(self.run_dir, {
            "run_id": self.run_dir.name, "target": target.name, "check_id": f"CERTIFY-DEPLOY-{suite.upper()}",
            "level": "mandatory", "outcome": outcome, "suite": suite, "duration_s": 0.0, "started_at": runs.utc_now(),
            "test_id": f"certify::deploy[{suite}-{target.name}]", "reason": reason, "evidence": evidence,
            "metrics": []})

    def _set_status(self, status: str) -> None:
        run = runs.load_run(self.run_dir)
        run["status"] = status
        atomic_write_json(self.run_dir / runs.RUN_JSON, run)

    def _record_in_run_json(self, finished: bool) -> None:
        """The certification's part of run.json (sub-runs of earlier attempts kept); a resumed
        certification that completed is finished as a whole, whatever its first attempt was."""
        run = runs.load_run(self.run_dir)
        latest = runs.latest_records(runs.read_results(self.run_dir).records)
        earlier = (run.get("certify") or {}).get("sub_runs", [])
        run["certify"] = {"product": self.product.id, "suites": ["compat", *self.plan.suites],
                          "baseline": self.plan.baseline.name if self.plan.baseline else None,
                          "sub_runs": [*earlier, *self.sub_runs], "notes": self.plan.notes}
        run["facts"] = {**runs.collect_facts(self.run_dir), **(run.get("facts") or {})}
        run["status"] = "finished" if finished else "interrupted"
        run["ended_at"] = runs.utc_now()
        run["summary"] = runs.counts(latest)
        atomic_write_json(self.run_dir / runs.RUN_JSON, run)
        runs.write_junit(self.run_dir, latest)

    # -- connections and facts ---------------------------------------------------------------------
    def _connect(self, target: Target) -> Any:
        from harness.transport import open_connection

        if target.name not in self._conns:
            log_dir = self.run_dir / "logs" / target.name / "deploy"
            self._conns[target.name] = open_connection(target, self.inventory, log_dir)
        return self._conns[target.name]

    def _close(self, target: Target) -> None:
        conn = self._conns.pop(target.name, None)
        if conn is not None:
            conn.close()

    def _facts_of(self, target: Target) -> dict[str, Any]:
        """The compat run's facts of the target, or (for a baseline outside the selection) fresh ones."""
        if target.name not in self._facts:
            path = self.run_dir / "facts" / f"{target.name}.json"
            if path.is_file():
                self._facts[target.name] = json.loads(path.read_text(encoding="utf-8"))
            else:
                from harness.facts.gather import gather_facts

                conn = self._connect(target)
                self._facts[target.name] = gather_facts(lambda cmd, timeout: conn.run(cmd, timeout=timeout))
        return self._facts[target.name]


def sub_run_log_dirs(run_dir: Path, target: str) -> list[tuple[str, Path]]:
    """(bundle prefix, folder) of every sub-run's command logs for `target`, for its evidence bundle."""
    found = []
    for sub in sorted((run_dir / SUB_RUNS).glob("*")) if (run_dir / SUB_RUNS).is_dir() else []:
        folder = sub / "logs" / target
        if folder.is_dir():
            found.append((sub.name, folder))
    return found


def write_bundles(run_dir: Path, product: Product, suites: list[str], selected: set[str]
             ) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """One evidence bundle per selected target, its checks in the order they ran (the order of
    results.jsonl: compat's lifecycle order, then the other suites)."""
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
