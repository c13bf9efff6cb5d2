"""`PerfCheck`: what one PERF-... check does on one target: measure, compare, record, conclude.

A check gets a PerfCheck from the `perf` fixture (harness.perf.plugin). It measures on the target
and, when the run has a live baseline, on the baseline target interleaved with it; with a stored
baseline it compares against the samples of the same check and metric in that run. Every metric
ends in the record's `metrics` list in the contract's shape:

    {name, unit, direction, samples, median, iqr, cv, baseline: {target, median, ratio, ci_low,
     ci_high, p_value, significant, ...} | null, verdict, ...}

`conclude()` turns the metric verdicts into the check's outcome: a missed mandatory limit fails
the check (AssertionError -> "failed"); an inconclusive one makes it an error ("inconclusive: too
noisy ...", which `xch run --resume` measures again); never a silent pass.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from dataclasses import asdict, dataclass, field
from typing import Any

import pytest

from harness.core import shell
from harness.core.errors import InfraError
from harness.perf import EMULATION_KIND, EMULATION_NOTE, micro, stats
from harness.perf.baseline import StoredBaseline
from harness.perf.criteria import Criteria, check_outcome, judge
from harness.perf.micro import Benchmark, MetricSpec, ParseError
from harness.perf.sampler import Sampler, resource_metrics
from harness.perf.tools import ToolStatus, ensure_tool
from harness.perf.workloads import Workload


class BenchmarkError(InfraError):
    """A benchmark tool failed or printed nothing we could read: the harness or target is at fault."""


class Inconclusive(InfraError):
    """Measured, but too noisy (or too few samples) to pass or fail: recorded as an error, said so."""


class WorkloadFailed(AssertionError):
    """A product workload's command failed: the product is at fault, the check fails."""


class CriteriaMissed(AssertionError):
    """A mandatory performance limit was missed with confidence: the check fails."""


@dataclass
class Side:
    """One machine being measured: the target under test or the live baseline."""

    conn: Any
    facts: dict[str, Any]

    @property
    def name(self) -> str:
        return self.conn.name

    @property
    def emulation(self) -> str:
        return str(self.facts.get("emulation") or "")

    def run(self, command: str, timeout: float) -> str:
        result = self.conn.run(command, timeout=timeout)
        if result.timed_out:
            raise BenchmarkError(f"benchmark command timed out after {result.elapsed:.0f}s on {self.name}: {command}")
        if result.rc != 0:
            tail = (result.stderr.strip() or result.stdout.strip())[-400:]
            raise BenchmarkError(f"benchmark command exited {result.rc} on {self.name}: {command}\n{tail}")
        return result.stdout


@dataclass
class PerfCheck:
    check_id: str
    test_name: str
    node: Any  # the pytest item, to set the check's level from the criteria
    side: Side
    evidence: dict[str, Any]
    metrics: list[dict[str, Any]]
    criteria: Criteria
    live_baseline: Side | None = None
    stored_baseline: StoredBaseline | None = None
    baseline_note: str = ""
    tool_cache: dict[tuple[str, str], ToolStatus] = field(default_factory=dict)
    lock: Callable[[list[str]], ContextManager[None]] = lambda names: contextlib.nullcontext()

    def __post_init__(self) -> None:
        perf = self.evidence.setdefault("perf", {})
        perf["target"] = {"name": self.side.name, "arch": self.side.facts.get("arch"),
                          "emulation": self.side.emulation or None}
        perf["plan"] = asdict(self.criteria.plan)
        perf["criteria_files"] = list(self.criteria.sources)
        if self.live_baseline:
            perf["baseline"] = {"source": "live, interleaved", "target": self.live_baseline.name,
                                "arch": self.live_baseline.facts.get("arch"),
                                "emulation": self.live_baseline.emulation or None}
        elif self.stored_baseline:
            perf["baseline"] = {"source": "stored run", "run": str(self.stored_baseline.run_dir),
                                "target": self.stored_baseline.target,
                                "arch": self.stored_baseline.facts.get("arch"),
                                "emulation": self.stored_baseline.facts.get("emulation") or None}
        else:
            perf["baseline"] = None
        if self.baseline_note:
            perf["baseline_note"] = self.baseline_note
        notes = self._emulation_notes()
        if notes:
            perf["note"] = notes

    def _emulation_notes(self) -> str:
        by_kind: dict[str, list[str]] = {}
        for name, kind in self._sides_emulation().items():
            if kind:
                by_kind.setdefault(EMULATION_KIND.get(kind, kind), []).append(name)
        return "; ".join(f"{', '.join(names)}: {EMULATION_NOTE.format(kind=kind)}" for kind, names in by_kind.items())

    def _sides_emulation(self) -> dict[str, str]:
        out = {self.side.name: self.side.emulation}
        if self.live_baseline:
            out[self.live_baseline.name] = self.live_baseline.emulation
        elif self.stored_baseline:
            out[self.stored_baseline.label] = str(self.stored_baseline.facts.get("emulation") or "")
        return out

    # -- tools ------------------------------------------------------------------------------------
    def require_tool(self, tool: str) -> None:
        """Find or install `tool` on the target (skip the check if it cannot be had) and on the live
        baseline (without it there, the metrics are recorded without a baseline, saying why)."""
        tools = self.evidence.setdefault("perf", {}).setdefault("tools", {})
        status = ensure_tool(self.side.conn, tool, str(self.side.facts.get("pkg_manager") or ""), self.tool_cache)
        tools.setdefault(self.side.name, {})[tool] = status.to_dict()
        if not status.available:
            pytest.skip(f"{tool} unavailable on {self.side.name}: {status.reason}")
        if self.live_baseline:
            base = ensure_tool(self.live_baseline.conn, tool, str(self.live_baseline.facts.get("pkg_manager") or ""),
                               self.tool_cache)
            tools.setdefault(self.live_baseline.name, {})[tool] = base.to_dict()
            if not base.available:
                self._drop_live_baseline(f"{tool} unavailable on baseline {self.live_baseline.name}: {base.reason}")

    def _drop_live_baseline(self, why: str) -> None:
        self.baseline_note = why
        self.evidence["perf"]["baseline_note"] = why
        self.live_baseline = None

    # -- measuring --------------------------------------------------------------------------------
    def run_benchmark(self, bench: Benchmark) -> list[dict[str, Any]]:
        """Measure one micro-benchmark on the target (and baseline), append its metric records."""
        self.require_tool(bench.tool)
        settings = self.criteria.bench
        sides = [self.side] + ([self.live_baseline] if self.live_baseline else [])
        timeout = bench.timeout(settings)

        def measure_on(side: Side) -> Callable[[], dict[str, float]]:
            def measure() -> dict[str, float]:
                out = side.run(bench.command(settings, side.facts), timeout)
                try:
                    return bench.parse(out)
                except ParseError as exc:
                    raise BenchmarkError(f"{bench.tool} on {side.name}: {exc}") from None
            return measure

        for side in sides:
            if bench.prepare:
                side.run(bench.prepare(settings), 120)
        try:
            series = self.measure([measure_on(s) for s in sides])
        finally:
            for side in sides:
                if bench.cleanup:
                    side.conn.run(bench.cleanup(settings), timeout=120)
        return self.record_series(list(bench.metrics), series, params=bench.params(settings), tool=bench.tool)

    def run_peer_network(self, address: str) -> list[dict[str, Any]]:
        """iperf3 from the target to the live baseline as its peer, reached at `address`; measured
        alone (the peer is half of every sample, so there is nothing to compare it with)."""
        if self.live_baseline is None:
            pytest.skip("needs a peer: run with a live --baseline SEL (the baseline target is the peer)")
        self.require_tool("iperf3")
        peer = self.live_baseline
        if peer is None:
            pytest.skip(f"no peer: {self.baseline_note}")
        settings = self.criteria.bench
        timeout = settings.seconds + 60

        def measure() -> dict[str, float]:
            port, token = 20000 + secrets.randbelow(40000), secrets.token_hex(8)
            peer.run(micro.peer_server_command(address, port, token), 30)
            try:
                out = self.side.run(micro.peer_client_command(address, port, settings.seconds), timeout)
            finally:
                peer.conn.run(micro.peer_stop_command(port, token), timeout=30)
            try:
                return micro.parse_iperf3(out, micro.PEER_METRIC.name)
            except ParseError as exc:
                raise BenchmarkError(f"iperf3 from {self.side.name} to {peer.name} ({address}): {exc}") from None

        plan = self.criteria.plan
        with self.lock([self.side.name, peer.name]):
            series = stats.measure_interleaved([measure], warmup=plan.warmup, min_runs=plan.min_runs,
                                               max_runs=plan.max_runs, cv_threshold=plan.cv_threshold)
        self.evidence["perf"]["peer"] = {"target": peer.name, "address": address,
                                         "emulation": peer.emulation or None}
        return self.record_series([micro.PEER_METRIC], series, tool="iperf3",
                                  params={"tool": "iperf3", "seconds": settings.seconds, "streams": 1,
                                          "peer": peer.name})

    def run_workload(self, workload: Workload) -> list[dict[str, Any]]:
        """Measure a product workload on the target (and baseline), sampling /proc on the target
        while the measured runs go. A failing command or unreadable output fails the check (the
        product is at fault); a timeout is an error."""
        sides = [self.side] + ([self.live_baseline] if self.live_baseline else [])

        windows: list[tuple[float, float]] = []  # target uptime spans of the target's own runs

        def measure_on(side: Side) -> Callable[[], dict[str, float]]:
            def measure() -> dict[str, float]:
                r = side.conn.run(timed_command(workload.command), timeout=workload.timeout)
                span = run_span(r.stderr)
                if span and side is self.side:
                    windows.append(span)
                if r.timed_out:
                    raise BenchmarkError(f"workload {workload.name} timed out after {r.elapsed:.0f}s on {side.name}")
                if r.rc != 0:
                    tail = (r.stderr.strip() or r.stdout.strip())[-400:]
                    raise WorkloadFailed(f"workload {workload.name} exited {r.rc} on {side.name}: {tail}")
                return workload.extract_all(r.stdout, r.elapsed)
            return measure

        for side in sides:
            if workload.setup:
                r = side.conn.run(workload.setup, timeout=max(workload.timeout, 900))
                if not r.ok:
                    raise WorkloadFailed(f"workload {workload.name} setup exited {r.rc} on {side.name}: "
                                         f"{(r.stderr or r.stdout).strip()[-400:]}")
        sampler = Sampler(self.side.conn, self.criteria.bench.resource_interval_s) if workload.sample_resources else None
        try:
            if sampler:
                sampler.start()
            try:
                series = self.measure([measure_on(s) for s in sides])
            finally:
                readings = sampler.stop(windows if len(sides) > 1 else None) if sampler else {}
        finally:
            for side in sides:
                if workload.teardown:
                    side.conn.run(workload.teardown, timeout=max(workload.timeout, 300))
        added = self.record_series(workload.specs(), series, params=workload.params(), tool="product workload")
        if sampler and not any(readings.values()):
            self.evidence["perf"]["resources_note"] = (
                f"the measured runs were too short to sample /proc every {sampler.interval_s:g}s: no resource "
                "readings (lower [benchmarks] resource_interval_s to sample them)")
        for record in resource_metrics(readings):
            record["description"] += f" (during the measured runs of {workload.name} on {self.side.name})"
            self.add_metric(record)
        return added

    def measure(self, measures: list[Callable[[], Any]]) -> list[stats.Series]:
        """Run the measuring plan (interleaved when there are two sides) while holding the lock."""
        plan = self.criteria.plan
        names = [self.side.name] + ([self.live_baseline.name] if self.live_baseline and len(measures) > 1 else [])
        with self.lock(names):
            return stats.measure_interleaved(measures, warmup=plan.warmup, min_runs=plan.min_runs,
                                             max_runs=plan.max_runs, cv_threshold=plan.cv_threshold)

    def record_series(self, specs: list[MetricSpec], series: list[stats.Series], params: dict[str, Any],
                      tool: str) -> list[dict[str, Any]]:
        own = series[0]
        base = series[1] if len(series) > 1 else None
        added = []
        for spec in specs:
            if spec.name not in own.samples:
                continue
            base_samples = base.samples.get(spec.name) if base else None
            record = self.metric_record(spec, own.samples[spec.name], own.warmup.get(spec.name, []), own.stable,
                                        own.runs, params, tool, base_samples)
            self.metrics.append(record)
            added.append(record)
        return added

    def metric_record(self, spec: MetricSpec, samples: list[float], warmup: list[float], stable: bool, runs: int,
                      params: dict[str, Any], tool: str, live_samples: list[float] | None) -> dict[str, Any]:
        plan = self.criteria.plan
        summary = stats.summarize(samples)
        record: dict[str, Any] = {
            "name": spec.name, "unit": spec.unit, "direction": spec.direction, "description": spec.description,
            "samples": summary.samples, "median": summary.median, "iqr": summary.iqr, "cv": summary.cv,
            "min": summary.min, "max": summary.max, "n": summary.n, "warmup_samples": warmup,
            "stable": stable, "runs": runs, "value": summary.median,
            "value_ci": list(stats.bootstrap_ci(samples, 50, n_boot=plan.bootstrap, confidence=plan.confidence,
                                                seed=plan.seed)),
            "tool": tool, "params": params, "emulation": self.side.emulation or None,
        }
        record["baseline"] = self._baseline_for(spec, samples, live_samples, params)
        self.judge(record)
        return record

    def _baseline_for(self, spec: MetricSpec, samples: list[float], live_samples: list[float] | None,
                      params: dict[str, Any]) -> dict[str, Any] | None:
        if live_samples is not None and self.live_baseline:
            return self._comparison(spec, samples, live_samples, self.live_baseline.name, "live, interleaved",
                                    self.live_baseline.emulation)
        if self.stored_baseline:
            stored = self.stored_baseline.metric(self.check_id, spec.name, self.test_name)
            if stored is None:
                self._note_metric(spec.name, f"no {spec.name} of {self.check_id} in baseline run "
                                             f"{self.stored_baseline.run_dir}")
                return None
            if (stored.get("params") or {}) != params:
                self._note_metric(spec.name, f"baseline run measured {spec.name} with other parameters "
                                             f"{stored.get('params')} (now {params}): not compared")
                return None
            return self._comparison(spec, samples, [float(x) for x in stored["samples"]], self.stored_baseline.label,
                                    f"stored run {self.stored_baseline.run_dir}",
                                    str(self.stored_baseline.facts.get("emulation") or ""))
        return None

    def _note_metric(self, name: str, text: str) -> None:
        self.evidence["perf"].setdefault("baseline_notes", {})[name] = text

    def _comparison(self, spec: MetricSpec, samples: list[float], base: list[float], label: str, source: str,
                    emulation: str) -> dict[str, Any]:
        plan = self.criteria.plan
        comp = stats.compare(samples, base, spec.direction, effect_band=plan.effect_band, alpha=plan.alpha,
                             n_boot=plan.bootstrap, confidence=plan.confidence, seed=plan.seed)
        bsum = stats.summarize(base)
        return {
            "target": label, "median": bsum.median, "ratio": comp.ratio, "ci_low": comp.ci_low,
            "ci_high": comp.ci_high, "p_value": comp.p_value, "significant": comp.significant,
            "status": comp.status, "oriented_ratio": comp.oriented, "oriented_ci_low": comp.oriented_ci_low,
            "oriented_ci_high": comp.oriented_ci_high, "confidence": comp.confidence,
            "effect_band": comp.effect_band, "alpha": comp.alpha, "samples": bsum.samples, "iqr": bsum.iqr,
            "cv": bsum.cv, "n": bsum.n, "source": source, "emulation": emulation or None,
        }

    def add_metric(self, record: dict[str, Any]) -> dict[str, Any]:
        """Append a metric measured another way (service levels, resources): judged, then recorded."""
        record.setdefault("baseline", None)
        record.setdefault("emulation", self.side.emulation or None)
        self.judge(record)
        self.metrics.append(record)
        return record

    def judge(self, record: dict[str, Any]) -> None:
        crit = self.criteria.for_metric(record["name"])
        verdict, reason = judge(record, crit, self.criteria.plan)
        record["verdict"] = verdict
        record["verdict_reason"] = reason
        record["criterion"] = crit.describe() if crit else None
        record["mandatory"] = bool(crit and crit.mandatory)

    # -- the outcome -----------------------------------------------------------------------------
    def conclude(self) -> None:
        """Set the check's level from the criteria and fail / error it as the verdicts say."""
        # Resource readings are context (how the machine behaved), not the product's performance:
        # they decide the check only when a criterion makes them mandatory.
        judged = [(m["name"], m.get("verdict", "measured"), bool(m.get("mandatory"))) for m in self.metrics
                  if m.get("verdict") in ("passed", "failed", "inconclusive")
                  and (m.get("kind") != "resource" or m.get("mandatory"))]
        measured_only = [m["name"] for m in self.metrics if m.get("verdict") == "measured"]
        outcome, level, reason = check_outcome(judged)
        if not judged:
            level = "optional"
        self.node.add_marker(pytest.mark.check(self.check_id, level=level), append=False)
        summary = {m["name"]: _short(m) for m in self.metrics}
        self.evidence["perf"]["verdicts"] = summary
        if measured_only:
            self.evidence["perf"]["measured_only"] = measured_only
        if outcome == "failed":
            raise CriteriaMissed(f"performance criteria missed on {self.side.name}: {reason}\n" + _details(self.metrics))
        if outcome == "inconclusive":
            raise Inconclusive(f"{reason} on {self.side.name} (too noisy or too few samples to decide; "
                               f"measure again with --resume) / 结果不确定\n" + _details(self.metrics))


_T0, _T1 = "@@XCH_T0 ", "@@XCH_T1 "


def timed_command(command: str) -> str:
    """`command` bracketed by the target's uptime on stderr, so resource samples taken while it
    ran can be told from those taken while the baseline ran (builtins only: no extra exec)."""
    return (f"read __a __b < /proc/uptime; echo \"{_T0}$__a\" >&2; ( eval {shell.quote(command)} ); __rc=$?; "
            f"read __a __b < /proc/uptime; echo \"{_T1}$__a\" >&2; exit $__rc")


def run_span(stderr: str) -> tuple[float, float] | None:
    start = end = None
    for line in stderr.splitlines():
        if line.startswith(_T0):
            start = float(line[len(_T0):])
        elif line.startswith(_T1):
            end = float(line[len(_T1):])
    return (start, end) if start is not None and end is not None else None


def _short(m: dict[str, Any]) -> str:
    base = m.get("baseline") or {}
    ratio = f", ratio {base['ratio']:.3f} vs {base['target']} (p={base['p_value']:.3g})" if base.get(
        "ratio") is not None and base.get("p_value") is not None else ""
    return f"{m.get('verdict')}: median {m.get('median'):.6g} {m.get('unit')}{ratio}"


def _details(metrics: list[dict[str, Any]]) -> str:
    return "\n".join(f"  {m['name']}: {m.get('verdict')} - {m.get('verdict_reason')}" for m in metrics
                     if m.get("verdict") in ("failed", "inconclusive"))
