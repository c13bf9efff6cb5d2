"""Performance criteria: `whitelist/perf-criteria.toml` (or a product's own file) and the verdict rules.

    [measurement]            # how to measure (harness.perf.stats)
    warmup = 1               # runs thrown away first
    min_runs = 5             # measured runs, at least
    max_runs = 12            # cap on extra runs made while CV > cv_threshold
    cv_threshold = 0.03      # keep measuring while any metric's CV is above this
    effect_band = 0.03       # a ratio within 1 +/- this is "no significant difference"
    alpha = 0.05             # Mann-Whitney U significance level
    max_cv = 0.10            # a metric noisier than this cannot pass (inconclusive, said so)

    [benchmarks]             # sizes of the platform micro-benchmarks
    seconds = 1

    [service]                # how service levels are measured
    window_s = 60

    [metrics."cpu.single_thread"]   # per metric (or glob: "workload.*.elapsed")
    min_ratio = 0.5          # oriented ratio to the baseline (> 1 = better than baseline, whatever direction)
    max = 5.0                # absolute upper limit, in the metric's unit
    min = 0.9999             # absolute lower limit
    max_fluctuation = 0.05   # for resource series: CV of the readings
    mandatory = true         # a mandatory metric's verdict decides the check (and makes it mandatory)

Verdicts: `passed` (the limit holds with confidence), `failed` (it is missed with confidence),
`inconclusive` (the confidence interval straddles the limit, too few samples, or too noisy to
pass: said so, never a silent pass), `measured` (no criterion applies, e.g. a ratio limit in a run
without a baseline).
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from harness.core.problems import TEXT_CHARS, Problems, shown, too_long
from harness.core.tomlfile import read_toml
from harness.perf import stats

VERDICTS = ("passed", "failed", "inconclusive", "measured")
DEFAULT_FILE = Path("whitelist") / "perf-criteria.toml"


@dataclass(frozen=True)
class Plan:
    """How each metric is measured and compared (see harness.stats)."""

    warmup: int = stats.DEFAULT_WARMUP
    min_runs: int = stats.DEFAULT_MIN_RUNS
    max_runs: int = 12
    cv_threshold: float = stats.DEFAULT_CV_THRESHOLD
    effect_band: float = stats.DEFAULT_EFFECT_BAND
    alpha: float = stats.DEFAULT_ALPHA
    confidence: float = stats.DEFAULT_CONFIDENCE
    bootstrap: int = stats.DEFAULT_BOOTSTRAP
    seed: int = stats.DEFAULT_SEED
    max_cv: float = 0.10


@dataclass(frozen=True)
class BenchSettings:
    """Sizes of the platform micro-benchmarks; small by default so an emulated lab stays quick."""

    seconds: int = 1                      # time-based tools (sysbench, stress-ng, fio, iperf3)
    memory_block_kb: int = 1024           # sysbench memory sequential block
    memory_random_block_mb: int = 16      # sysbench memory random-access buffer
    fio_dir: str = "/var/tmp/xch-perf"
    fio_size_mb: int = 64
    fio_direct: bool = True               # O_DIRECT; falls back to buffered when the file system refuses
    resource_seconds: int = 10            # PERF-RES: how long the steady load runs while /proc is sampled
    resource_interval_s: float = 1.0


@dataclass(frozen=True)
class ServiceSettings:
    """How the service-level measures run (their limits are metric criteria, see DEFAULT_METRICS)."""

    window_s: float = 60.0                # availability / probing window
    interval_s: float = 1.0               # time between probes
    probe_timeout_s: float = 5.0          # a probe slower than this counts as down
    recovery_poll_s: float = 1.0
    recovery_limit_s: float = 900.0       # give up waiting for recovery after this


@dataclass(frozen=True)
class Criterion:
    """Limits for the metrics whose name matches `pattern` (exact name or glob)."""

    pattern: str
    min_ratio: float | None = None
    max: float | None = None
    min: float | None = None
    max_fluctuation: float | None = None
    max_cv: float | None = None
    mandatory: bool = False

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


# The programme plan's service levels, used unless a criteria file says otherwise.
DEFAULT_METRICS = (
    Criterion("service.probe.p99_s", max=5.0, mandatory=True),
    Criterion("service.availability", min=0.9999, mandatory=True),
    Criterion("service.recovery_s", max=900.0, mandatory=True),
)


@dataclass
class Criteria:
    plan: Plan = field(default_factory=Plan)
    bench: BenchSettings = field(default_factory=BenchSettings)
    service: ServiceSettings = field(default_factory=ServiceSettings)
    metrics: list[Criterion] = field(default_factory=lambda: list(DEFAULT_METRICS))
    sources: list[str] = field(default_factory=list)

    def for_metric(self, name: str) -> Criterion | None:
        """The exact entry for `name`, else the first glob that matches it (file order)."""
        for c in self.metrics:
            if c.pattern == name:
                return c
        for c in self.metrics:
            if any(ch in c.pattern for ch in "*?[") and fnmatch.fnmatchcase(name, c.pattern):
                return c
        return None


_SECTIONS = {"measurement": Plan, "benchmarks": BenchSettings, "service": ServiceSettings}
_CRITERION_FIELDS = {"min_ratio": float, "max": float, "min": float, "max_fluctuation": float, "max_cv": float,
                     "mandatory": bool}


def load_criteria(*paths: Path | None) -> Criteria:
    """Read criteria files in order, later ones overriding earlier ones (e.g. the lab's file, then a
    product's own). A missing path is skipped; every problem of a file is reported at once."""
    crit = Criteria()
    for path in paths:
        if path is None or not Path(path).exists():
            continue
        crit = _apply(crit, Path(path))
    return crit


MAX_COUNT = 1_000_000  # runs, warm-ups, bootstrap resamples, seconds: bounded, so a typo cannot run forever


def _apply(crit: Criteria, path: Path) -> Criteria:
    data = read_toml(path, "perf criteria file")
    problems = Problems("perf criteria", path)
    for key in data:
        if key not in (*_SECTIONS, "metrics"):
            problems.add("", f"unknown table [{key}] (known: {', '.join([*_SECTIONS, 'metrics'])})")
    sections: dict[str, Any] = {}
    for section, cls in _SECTIONS.items():
        current = {"measurement": crit.plan, "benchmarks": crit.bench, "service": crit.service}[section]
        table = data.get(section, {})
        if not isinstance(table, dict):
            problems.add(f"[{section}]", "must be a table")
            sections[section] = current
            continue
        sections[section] = replace(current, **_typed_fields(section, table, cls, problems))
    metrics = list(crit.metrics)
    raw_metrics = data.get("metrics", {})
    if not isinstance(raw_metrics, dict):
        problems.add("[metrics]", "must be a table of tables, e.g. [metrics.\"cpu.single_thread\"]")
        raw_metrics = {}
    for name, table in raw_metrics.items():
        where = f'[metrics."{name}"]' if not too_long(name, TEXT_CHARS) else f"[metrics.{shown(name)}]"
        if too_long(name, TEXT_CHARS):
            problems.add(where, f"a metric name or glob of {too_long(name, TEXT_CHARS)}")
            continue
        if not isinstance(table, dict):
            problems.add(where, "must be a table")
            continue
        values: dict[str, Any] = {}
        for key, value in table.items():
            kind = _CRITERION_FIELDS.get(key)
            if kind is None:
                problems.add(where, f"unknown field {shown(key)} (known: {', '.join(_CRITERION_FIELDS)})")
            elif kind is bool and not isinstance(value, bool):
                problems.add(where, f"field {key!r} must be true or false, got {shown(value)}")
            elif kind is float and not _finite(value):
                problems.add(where, f"field {key!r} must be a non-negative finite number, got {shown(value)}")
            else:
                values[key] = float(value) if kind is float else value
        metrics = [m for m in metrics if m.pattern != name] + [Criterion(pattern=name, **values)]
    plan = sections["measurement"]
    if plan.min_runs < 1 or plan.max_runs < plan.min_runs:
        problems.add("[measurement]", f"needs 1 <= min_runs <= max_runs, got {plan.min_runs}, {plan.max_runs}")
    if not 0 < plan.confidence < 1 or not 0 < plan.alpha < 1:
        problems.add("[measurement]", "confidence and alpha must lie between 0 and 1")
    problems.raise_if_any()
    return Criteria(plan=plan, bench=sections["benchmarks"], service=sections["service"], metrics=metrics,
                    sources=[*crit.sources, str(path)])


def _finite(value: Any) -> bool:
    """A non-negative finite number (nan and inf would make every comparison meaningless)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < math.inf


def _typed_fields(section: str, table: dict, cls: type, problems: Problems) -> dict[str, Any]:
    known = {f.name: f for f in fields(cls)}
    good: dict[str, Any] = {}
    for key, value in table.items():
        spec = known.get(key)
        if spec is None:
            problems.add(f"[{section}]", f"unknown field {shown(key)} (known: {', '.join(known)})")
            continue
        default = getattr(cls(), key)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT
        elif isinstance(default, float):
            ok = _finite(value) and value <= MAX_COUNT
        else:
            ok = isinstance(value, str) and bool(value) and not too_long(value, TEXT_CHARS)
        if not ok:
            bound = f", at most {MAX_COUNT:,}" if isinstance(default, (int, float)) and not isinstance(default, bool) else ""
            problems.add(f"[{section}]", f"field {key!r} must be {type(default).__name__} (like {default!r}{bound}), "
                         f"got {shown(value)}")
            continue
        good[key] = float(value) if isinstance(default, float) else value
    return good


# -- verdicts ----------------------------------------------------------------------------------

def judge(metric: dict[str, Any], criterion: Criterion | None, plan: Plan) -> tuple[str, str]:
    """(verdict, reason) of one metric record against its criterion.

    The metric record carries `value` with `value_ci` (the estimate the limits apply to and its
    confidence interval), `cv`, `direction`, optional `fluctuation`, and `baseline` (the
    comparison, with oriented_ci_low/high) or None. A limit is passed or failed only when the
    interval lies wholly on one side of it; an interval across the limit is inconclusive.
    """
    if criterion is None:
        return "measured", "no criterion for this metric / 无判定标准，仅记录"
    parts: list[tuple[str, str]] = []
    lo, hi = metric.get("value_ci") or (metric.get("value"), metric.get("value"))
    if metric.get("value_ci") is None and metric.get("value") is None:
        lo = hi = None
    unit = metric.get("unit", "")
    if criterion.min_ratio is not None:
        parts.append(_ratio_part(metric.get("baseline"), criterion.min_ratio))
    if criterion.max is not None:
        parts.append(_limit_part(lo, hi, criterion.max, upper=True, unit=unit))
    if criterion.min is not None:
        parts.append(_limit_part(lo, hi, criterion.min, upper=False, unit=unit))
    if criterion.max_fluctuation is not None:
        fl = metric.get("fluctuation")
        if fl is None or not math.isfinite(fl):
            parts.append(("inconclusive", "fluctuation not measured"))
        elif fl <= criterion.max_fluctuation:
            parts.append(("passed", f"fluctuation {fl:.1%} <= {criterion.max_fluctuation:.1%}"))
        else:
            parts.append(("failed", f"fluctuation {fl:.1%} > {criterion.max_fluctuation:.1%} / 波动超限"))
    parts = [p for p in parts if p[0] != "measured"] or parts
    if not parts:
        return "measured", "criterion has no limit / 标准未设限值"
    verdicts = [v for v, _ in parts]
    reason = "; ".join(r for _, r in parts)
    if "failed" in verdicts:
        verdict = "failed"
    elif "inconclusive" in verdicts:
        verdict = "inconclusive"
    elif "passed" in verdicts:
        verdict = "passed"
    else:
        verdict = "measured"
    if verdict == "passed" and metric.get("repeated", True):
        max_cv = criterion.max_cv if criterion.max_cv is not None else plan.max_cv
        noisy = _noisy(metric, max_cv)
        if noisy:
            return "inconclusive", f"too noisy to pass / 波动过大无法判定: {noisy} (limit {max_cv:.0%}); {reason}"
    return verdict, reason


def _noisy(metric: dict[str, Any], max_cv: float) -> str:
    found = []
    if (metric.get("cv") or 0) > max_cv:
        found.append(f"CV {metric['cv']:.1%} on the target")
    base = metric.get("baseline") or {}
    if (base.get("cv") or 0) > max_cv:
        found.append(f"CV {base['cv']:.1%} on baseline {base.get('target')}")
    return ", ".join(found)


def _ratio_part(baseline: dict[str, Any] | None, min_ratio: float) -> tuple[str, str]:
    if not baseline:
        return "measured", f"no baseline: min_ratio {min_ratio:g} not evaluated / 无基线，未评估比值"
    status = baseline.get("status")
    lo, hi, mid = baseline.get("oriented_ci_low"), baseline.get("oriented_ci_high"), baseline.get("oriented_ratio")
    if lo is None or hi is None or mid is None:
        return "inconclusive", f"cannot compare with the baseline ({status}) / 无法与基线比较"
    text = f"performance ratio {mid:.3f} (95% CI {lo:.3f}-{hi:.3f}) vs min {min_ratio:g}"
    if lo >= min_ratio:
        return "passed", text
    if hi < min_ratio:
        return "failed", text + " / 低于基线要求"
    return "inconclusive", text + ": the interval contains the limit, too noisy to decide / 置信区间跨越限值"


def _limit_part(lo: float | None, hi: float | None, limit: float, upper: bool, unit: str) -> tuple[str, str]:
    """An interval end of None is unbounded (e.g. a service that never recovered in the window)."""
    if lo is None and hi is None:
        return "inconclusive", "no value measured / 未测得数值"
    lo = -math.inf if lo is None else lo
    hi = math.inf if hi is None else hi
    if math.isnan(lo) or math.isnan(hi):
        return "inconclusive", "no value measured / 未测得数值"
    sign = "<=" if upper else ">="
    text = f"value {_fmt(lo)}-{_fmt(hi)} {unit} vs {sign} {limit:g} {unit}".replace("  ", " ")
    if (hi <= limit) if upper else (lo >= limit):
        return "passed", text
    if (lo > limit) if upper else (hi < limit):
        return "failed", text + " / 超出限值"
    return "inconclusive", text + ": the interval contains the limit / 置信区间跨越限值"


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def check_outcome(verdicts: list[tuple[str, str, bool]]) -> tuple[str, str, str]:
    """(outcome, level, reason) of a check from its metrics' (name, verdict, mandatory).

    Mandatory metrics decide the check when there are any (the check is then mandatory);
    otherwise every judged metric does (and the check is optional). failed beats inconclusive.
    """
    mandatory = [v for v in verdicts if v[2]]
    deciding = mandatory or verdicts
    level = "mandatory" if mandatory else "optional"
    failed = [n for n, v, _ in deciding if v == "failed"]
    unsure = [n for n, v, _ in deciding if v == "inconclusive"]
    if failed:
        return "failed", level, "missed: " + ", ".join(failed)
    if unsure:
        return "inconclusive", level, "inconclusive: " + ", ".join(unsure)
    return "passed", level, ""
