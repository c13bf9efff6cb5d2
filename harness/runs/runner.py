"""Runs a suite as a pytest subprocess and records it in a run folder (used by `xch run` and `xch certify`).

pytest runs in its own process so a crash or a stuck plugin cannot take the controller with it,
and so xdist (-n) works as usual; the plugin writes the run folder, this module only assembles
the command and reads back the records.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import runs
from harness.core.errors import EXIT_BAD_INPUT, EXIT_INFRA, InputError
from harness.core.paths import project_dir
from harness.inventory import load_inventory, parse_shard, shard

RESUMABLE = ("suite", "targets", "product", "inventory", "workers", "shard", "baseline", "baseline_run", "perf_criteria",
             "env")
PERF_OPTIONS = {"baseline": "--baseline", "baseline_run": "--baseline-run", "perf_criteria": "--perf-criteria"}


@dataclass
class RunRequest:
    """What to run; `from_resume` fills it from an earlier run's run.json."""

    suite: str
    targets: str = "*"
    product: str | None = None
    inventory: list[str] = field(default_factory=list)
    workers: int = 0
    shard: str | None = None  # "I/N": this controller's slice of the selected targets
    baseline: str | None = None  # perf: baseline target selector (harness.perf.plugin)
    baseline_run: str | None = None  # perf: run folder whose samples are the baseline
    perf_criteria: str | None = None  # perf: criteria file
    env: dict[str, str] = field(default_factory=dict)  # suite settings passed as environment (XCH_PARITY_*)
    run_dir: Path | None = None
    resume: bool = False
    pytest_args: list[str] = field(default_factory=list)

    def settings(self) -> dict[str, Any]:
        """What run.json records as the run's arguments (and --resume reads back)."""
        return {"suite": self.suite, "targets": self.targets, "product": self.product,
                "inventory": self.inventory, "workers": self.workers, "shard": self.shard,
                "baseline": self.baseline, "baseline_run": self.baseline_run, "perf_criteria": self.perf_criteria,
                "env": self.env}

    @classmethod
    def from_resume(cls, run_dir: Path, **overrides: Any) -> RunRequest:
        recorded = runs.load_run(run_dir).get("args", {})
        merged = {k: v for k, v in recorded.items() if k in RESUMABLE}
        merged.update({k: v for k, v in overrides.items() if v not in (None, [], "")})
        if not merged.get("suite"):
            raise InputError(f"{run_dir / runs.RUN_JSON}: no suite recorded; pass --suite")
        return cls(**merged, run_dir=run_dir, resume=True)


@dataclass
class RunOutcome:
    run_dir: Path
    records: list[dict[str, Any]]  # the latest record per (target, check)
    exit_code: int
    interrupted: bool = False  # SIGTERM/SIGINT reached xch while the suite ran (and was passed on)


def suite_path(suite: str) -> Path:
    """A suite name under suites/ or a path to a suite folder or file."""
    for candidate in (Path(suite), project_dir() / "suites" / suite):
        if candidate.exists():
            return candidate.resolve()
    suites = project_dir() / "suites"
    available = sorted(p.name for p in suites.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))) if suites.is_dir() else []
    raise InputError(f"--suite {suite!r}: no such suite (available: {', '.join(available) or 'none'})")


def run_suite(request: RunRequest, quiet: bool = False) -> RunOutcome:
    """Validate the request (bad input raises before anything starts), run pytest, read the records."""
    suite = suite_path(request.suite)
    inventory = load_inventory([Path(f) for f in request.inventory] or None, project_dir())
    selected = inventory.select(request.targets)
    if request.shard:
        selected = shard(selected, *parse_shard(request.shard))
        if not selected:
            raise InputError(f"--shard {request.shard}: this slice of the {request.targets!r} selection is empty")
    if request.product and not Path(request.product).exists():
        raise InputError(f"--product {request.product}: no such file or folder")
    run_dir = request.run_dir or project_dir() / "results" / runs.new_run_id(Path(request.suite).name)
    run_dir = run_dir.resolve()
    if not request.resume and (run_dir / runs.RESULTS).exists():
        raise InputError(f"--run-dir {run_dir}: this folder already holds a run; finish it with "
                         f"--resume {run_dir} or choose a new folder")
    run_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pytest", str(suite), "-p", "harness.plugin", "-p", "no:cacheprovider",
           "--rootdir", str(project_dir()), "--run-dir", str(run_dir), "--targets", request.targets,
           "-o", "console_output_style=count", "-rfEs"]
    for f in request.inventory:
        cmd += ["--inventory", f]
    if request.product:
        cmd += ["--product", str(request.product)]
    if request.shard:
        cmd += ["--shard", request.shard]
    perf = [(flag, getattr(request, attr)) for attr, flag in PERF_OPTIONS.items() if getattr(request, attr)]
    if perf:
        cmd += ["-p", "harness.perf.plugin"]
        for flag, value in perf:
            cmd += [flag, str(value)]
    if request.workers:
        cmd += ["-n", str(request.workers), "--dist", "loadgroup"]
    if request.resume:
        cmd.append("--xch-resume")
    cmd += request.pytest_args
    env = dict(os.environ, **request.env, XCH_COMMAND_LINE=json.dumps(sys.argv), XCH_RUN_ARGS=json.dumps(request.settings()))
    print(f"xch run {run_dir.name}: suite {suite.name} on {len(selected)} target(s): "
          f"{', '.join(t.name for t in selected)}" + (" (resume)" if request.resume else ""), file=sys.stderr)
    returncode, interrupted = _run_child(cmd, env, quiet)
    latest = runs.latest_records(runs.read_results(run_dir).records)
    return RunOutcome(run_dir, latest, _exit_code(returncode, latest, request.resume), interrupted)


def _run_child(cmd: list[str], env: dict[str, str], quiet: bool) -> tuple[int, bool]:
    """Run pytest; SIGTERM/SIGINT to xch reach it too, so a cancelled run stops instead of going on
    unseen beside a later --resume. Returns pytest's exit code and whether a signal was passed on."""
    proc = subprocess.Popen(cmd, env=env, cwd=project_dir(), stdout=sys.stderr if quiet else None)
    received: list[int] = []

    def forward(signum: int, frame: object) -> None:
        received.append(signum)
        proc.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return proc.wait(), bool(received)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _exit_code(pytest_rc: int, latest: list[dict[str, Any]], resume: bool) -> int:
    """Exit code from the records, never 0 when pytest itself says the run did not go through."""
    if pytest_rc == 5 and not (resume and latest):  # nothing collected or all deselected
        print("xch run: the suite selected no checks (nothing ran: this is not a pass)", file=sys.stderr)
        return EXIT_BAD_INPUT
    if pytest_rc == 4 and not latest:
        print("xch run: pytest refused the options (usage error)", file=sys.stderr)
        return EXIT_BAD_INPUT
    code = runs.exit_code_for(latest)
    if pytest_rc not in (0, 1, 5) or (pytest_rc == 1 and not latest):
        # interrupted, internal error, or failures pytest saw that left no record (a crashed worker)
        print(f"xch run: pytest ended with exit {pytest_rc}; the run is incomplete", file=sys.stderr)
        return code if code == 1 else EXIT_INFRA
    return code
