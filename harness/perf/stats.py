"""Statistics for performance measurements: repeat until stable, summarise, compare with a baseline.

Pure functions (no I/O); the only randomness is the bootstrap, which is seeded so a report can be
reproduced from the samples it keeps. The rules, taken from pyperf and the Phoronix Test Suite:

- Warm-up runs are made and thrown away (caches, JIT, page cache, CPU frequency), then at least
  `min_runs` measured runs; while the coefficient of variation (stdev / mean) of any metric is
  above `cv_threshold`, more runs are made, up to `max_runs`. Every sample is kept.
- A difference from the baseline counts as real only when a Mann-Whitney U test (no normality
  assumption; timings are skewed) gives p < alpha AND the ratio of medians lies outside a
  minimum-effect band (default +/-3 %): a tiny but "significant" shift from a thousand samples is
  no difference to a user, and a big shift from three noisy samples is not proven.
- `ratio` is candidate median / baseline median in the metric's own unit. `oriented` ratios are
  flipped for lower-is-better metrics so that > 1 always means "the candidate performs better";
  a suite summary is the geometric mean of oriented ratios (ratios multiply; an arithmetic mean
  of ratios is biased towards the larger ones).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

DIRECTIONS = ("higher", "lower")
DEFAULT_CV_THRESHOLD = 0.03
DEFAULT_EFFECT_BAND = 0.03
DEFAULT_ALPHA = 0.05
DEFAULT_MIN_RUNS = 5
DEFAULT_MAX_RUNS = 15
DEFAULT_WARMUP = 1
DEFAULT_BOOTSTRAP = 2000
DEFAULT_CONFIDENCE = 0.95
DEFAULT_SEED = 20240601
MIN_COMPARE_SAMPLES = 5  # below this on either side a comparison is "too few samples", never a verdict

Measure = Callable[[], "float | Mapping[str, float]"]


# -- summaries ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Summary:
    """Descriptive statistics of one metric's measured samples (warm-up excluded)."""

    samples: list[float]
    n: int
    median: float
    mean: float
    stdev: float
    iqr: float
    cv: float
    min: float
    max: float

    def to_dict(self) -> dict:
        return asdict(self)


def cv(samples: Sequence[float]) -> float:
    """Coefficient of variation: sample standard deviation / |mean|; 0 for < 2 samples, inf for mean 0."""
    if len(samples) < 2:
        return 0.0
    arr = np.asarray(samples, dtype=float)
    mean = float(arr.mean())
    sd = float(arr.std(ddof=1))
    if mean == 0:
        return 0.0 if sd == 0 else math.inf
    return sd / abs(mean)


def iqr(samples: Sequence[float]) -> float:
    """Interquartile range (linear interpolation, as numpy and pandas default)."""
    if not samples:
        return math.nan
    q75, q25 = np.percentile(np.asarray(samples, dtype=float), [75, 25])
    return float(q75 - q25)


def summarize(samples: Sequence[float]) -> Summary:
    """Median, IQR, CV, min, max of `samples`, keeping them all."""
    values = [float(x) for x in samples]
    if not values:
        raise ValueError("summarize() needs at least one sample")
    arr = np.asarray(values)
    return Summary(samples=values, n=len(values), median=float(np.median(arr)), mean=float(arr.mean()),
                   stdev=float(arr.std(ddof=1)) if len(values) > 1 else 0.0, iqr=iqr(values), cv=cv(values),
                   min=float(arr.min()), max=float(arr.max()))


# -- repeated measurement ----------------------------------------------------------------------

@dataclass
class Series:
    """Samples of every metric one measure() produced, with the warm-up runs kept apart."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    warmup: dict[str, list[float]] = field(default_factory=dict)
    runs: int = 0
    stable: bool = False  # every metric's CV <= threshold when measuring stopped
    cv_threshold: float = DEFAULT_CV_THRESHOLD

    def cvs(self) -> dict[str, float]:
        return {name: cv(values) for name, values in self.samples.items()}

    def summary(self, name: str) -> Summary:
        return summarize(self.samples[name])

    def add(self, values: Mapping[str, float], warm: bool) -> None:
        target = self.warmup if warm else self.samples
        for name, value in values.items():
            target.setdefault(name, []).append(float(value))
        if not warm:
            self.runs += 1

    def settled(self, min_runs: int) -> bool:
        return self.runs >= min_runs and all(c <= self.cv_threshold for c in self.cvs().values())


def _as_mapping(value: float | Mapping[str, float]) -> Mapping[str, float]:
    if isinstance(value, Mapping):
        return value
    return {"value": float(value)}


def _check_plan(min_runs: int, max_runs: int, warmup: int, cv_threshold: float) -> None:
    if min_runs < 1 or max_runs < min_runs or warmup < 0 or cv_threshold < 0:
        raise ValueError(f"bad measuring plan: min_runs={min_runs} max_runs={max_runs} warmup={warmup} "
                         f"cv_threshold={cv_threshold} (need 1 <= min_runs <= max_runs, warmup >= 0)")


def measure_until_stable(measure: Measure, *, warmup: int = DEFAULT_WARMUP, min_runs: int = DEFAULT_MIN_RUNS,
                         max_runs: int = DEFAULT_MAX_RUNS, cv_threshold: float = DEFAULT_CV_THRESHOLD) -> Series:
    """Call `measure()` `warmup` times (discarded), then at least `min_runs` times, and keep going
    while any metric's CV exceeds `cv_threshold`, up to `max_runs`. `measure` returns one number or
    a mapping metric -> number (one tool run often yields several metrics)."""
    return measure_interleaved([measure], warmup=warmup, min_runs=min_runs, max_runs=max_runs,
                               cv_threshold=cv_threshold)[0]


def measure_interleaved(measures: Sequence[Measure], *, warmup: int = DEFAULT_WARMUP,
                        min_runs: int = DEFAULT_MIN_RUNS, max_runs: int = DEFAULT_MAX_RUNS,
                        cv_threshold: float = DEFAULT_CV_THRESHOLD) -> list[Series]:
    """Measure several sides (candidate, baseline) in alternating rounds, A B / B A / A B ...

    Alternation spreads slow drift (thermal, background load, a neighbour's job) evenly over the
    sides instead of letting it land on whichever was measured last; reversing the order every
    round also cancels "the second one runs on a warmer cache". Rounds continue until every side
    is stable or the cap is reached, so every side has the same number of runs.
    """
    _check_plan(min_runs, max_runs, warmup, cv_threshold)
    series = [Series(cv_threshold=cv_threshold) for _ in measures]
    order = list(range(len(measures)))
    for round_no in range(warmup + max_runs):
        warm = round_no < warmup
        for index in (order if round_no % 2 == 0 else order[::-1]):
            series[index].add(_as_mapping(measures[index]()), warm)
        if not warm and all(s.settled(min_runs) for s in series):
            break
    for s in series:
        s.stable = all(c <= cv_threshold for c in s.cvs().values())
    return series


# -- comparison with a baseline ----------------------------------------------------------------

@dataclass(frozen=True)
class Comparison:
    """Candidate versus baseline for one metric. `significant` needs both tests; `status` says why."""

    ratio: float | None  # candidate median / baseline median (metric's own unit)
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    significant: bool
    status: str  # "better" | "worse" | "no significant difference" | "too few samples" | "undefined"
    oriented: float | None  # ratio flipped so > 1 means the candidate performs better
    oriented_ci_low: float | None
    oriented_ci_high: float | None
    n_candidate: int
    n_baseline: int
    confidence: float
    effect_band: float
    alpha: float

    def to_dict(self) -> dict:
        return asdict(self)


def orient(ratio: float, direction: str) -> float:
    """A ratio such that > 1 means better, whatever the metric's direction."""
    _check_direction(direction)
    if direction == "higher":
        return ratio
    return math.inf if ratio == 0 else 1.0 / ratio


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")


def bootstrap_ratio_ci(candidate: Sequence[float], baseline: Sequence[float], *, n_boot: int = DEFAULT_BOOTSTRAP,
                       confidence: float = DEFAULT_CONFIDENCE, seed: int = DEFAULT_SEED) -> tuple[float, float]:
    """Percentile bootstrap CI of median(candidate) / median(baseline), resampling each side
    independently. Seeded: the same samples always give the same interval."""
    a = np.asarray(candidate, dtype=float)
    b = np.asarray(baseline, dtype=float)
    rng = np.random.default_rng(seed)
    ma = np.median(a[rng.integers(0, len(a), size=(n_boot, len(a)))], axis=1)
    mb = np.median(b[rng.integers(0, len(b), size=(n_boot, len(b)))], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = ma / mb
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(ratios, [tail, 1.0 - tail])
    return float(low), float(high)


def bootstrap_ci(samples: Sequence[float], q: float = 50.0, *, n_boot: int = DEFAULT_BOOTSTRAP,
                 confidence: float = DEFAULT_CONFIDENCE, seed: int = DEFAULT_SEED) -> tuple[float, float]:
    """Percentile bootstrap CI of the q-th percentile (50 = median) of one sample; seeded."""
    arr = np.asarray(samples, dtype=float)
    if arr.size == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    stat = np.percentile(arr[rng.integers(0, arr.size, size=(n_boot, arr.size))], q, axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(stat, [tail, 1.0 - tail])
    return float(low), float(high)


def mann_whitney_p(candidate: Sequence[float], baseline: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value; 1.0 when every value on both sides is the same."""
    from scipy.stats import mannwhitneyu

    if len(set(map(float, candidate)) | set(map(float, baseline))) == 1:
        return 1.0
    return float(mannwhitneyu(candidate, baseline, alternative="two-sided").pvalue)


def compare(candidate: Sequence[float], baseline: Sequence[float], direction: str, *,
            effect_band: float = DEFAULT_EFFECT_BAND, alpha: float = DEFAULT_ALPHA,
            n_boot: int = DEFAULT_BOOTSTRAP, confidence: float = DEFAULT_CONFIDENCE, seed: int = DEFAULT_SEED,
            min_samples: int = MIN_COMPARE_SAMPLES) -> Comparison:
    """Compare candidate samples with baseline samples of the same metric.

    significant = Mann-Whitney p < alpha AND |ratio - 1| > effect_band. With fewer than
    `min_samples` on either side the result is "too few samples" (no p-value, not significant):
    a verdict built on it would be noise.
    """
    _check_direction(direction)
    common = dict(n_candidate=len(candidate), n_baseline=len(baseline), confidence=confidence,
                  effect_band=effect_band, alpha=alpha)
    if len(candidate) < min_samples or len(baseline) < min_samples:
        ratio = _ratio(candidate, baseline)
        return Comparison(ratio=ratio, ci_low=None, ci_high=None, p_value=None, significant=False,
                          status="too few samples", oriented=_orient_or_none(ratio, direction),
                          oriented_ci_low=None, oriented_ci_high=None, **common)
    ratio = _ratio(candidate, baseline)
    if ratio is None or not math.isfinite(ratio):
        return Comparison(ratio=None, ci_low=None, ci_high=None, p_value=None, significant=False,
                          status="undefined", oriented=None, oriented_ci_low=None, oriented_ci_high=None, **common)
    low, high = bootstrap_ratio_ci(candidate, baseline, n_boot=n_boot, confidence=confidence, seed=seed)
    p = mann_whitney_p(candidate, baseline)
    outside_band = abs(ratio - 1.0) > effect_band
    significant = p < alpha and outside_band
    oriented = orient(ratio, direction)
    if significant:
        status = "better" if oriented > 1 else "worse"
    else:
        status = "no significant difference"
    olow, ohigh = (low, high) if direction == "higher" else (_inv(high), _inv(low))
    return Comparison(ratio=ratio, ci_low=low, ci_high=high, p_value=p, significant=significant, status=status,
                      oriented=oriented, oriented_ci_low=olow, oriented_ci_high=ohigh, **common)


def _ratio(candidate: Sequence[float], baseline: Sequence[float]) -> float | None:
    if not candidate or not baseline:
        return None
    base = float(np.median(baseline))
    if base == 0:
        return None
    return float(np.median(candidate)) / base


def _orient_or_none(ratio: float | None, direction: str) -> float | None:
    return None if ratio is None else orient(ratio, direction)


def _inv(x: float) -> float:
    return math.inf if x == 0 else 1.0 / x


def geometric_mean(values: Sequence[float]) -> float:
    """Geometric mean of positive numbers (NaN for an empty list; ValueError for a non-positive one)."""
    vals = [float(v) for v in values]
    if not vals:
        return math.nan
    if any(v <= 0 or not math.isfinite(v) for v in vals):
        raise ValueError(f"geometric mean needs positive finite values, got {vals}")
    return math.exp(sum(math.log(v) for v in vals) / len(vals))


def suite_summary(ratios: Sequence[tuple[float, str]]) -> float:
    """Geometric mean of (ratio, direction) pairs, each oriented so > 1 means the candidate is better."""
    return geometric_mean([orient(r, d) for r, d in ratios])


# -- service-level figures ---------------------------------------------------------------------

def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear interpolation; NaN for no samples."""
    if not samples:
        return math.nan
    return float(np.percentile(np.asarray(samples, dtype=float), q))


def availability_bounds(successes: int, total: int, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """Clopper-Pearson interval of a success proportion: (low, high).

    Why it matters: 60 successful probes out of 60 do not show 99.99 % availability (the lower
    bound is ~94 %); a verdict on availability must use the bound, not the observed ratio.
    """
    from scipy.stats import beta

    if total <= 0:
        return (0.0, 1.0)
    tail = (1.0 - confidence) / 2.0
    low = 0.0 if successes == 0 else float(beta.ppf(tail, successes, total - successes + 1))
    high = 1.0 if successes == total else float(beta.ppf(1 - tail, successes + 1, total - successes))
    return (low, high)


def fluctuation(samples: Sequence[float]) -> dict[str, float]:
    """How much a resource reading moved while a workload ran: CV and (max - min) / mean."""
    if not samples:
        return {"mean": math.nan, "cv": math.nan, "range_ratio": math.nan, "min": math.nan, "max": math.nan}
    arr = np.asarray(samples, dtype=float)
    mean = float(arr.mean())
    spread = float(arr.max() - arr.min())
    return {"mean": mean, "cv": cv(list(arr)), "range_ratio": (spread / abs(mean)) if mean else (0.0 if spread == 0 else math.inf),
            "min": float(arr.min()), "max": float(arr.max())}
