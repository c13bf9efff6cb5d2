"""harness.perf.stats against cases with known answers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.perf import stats


def noisy(center: float, n: int, rel_sd: float, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(center * (1 + rel_sd * rng.standard_normal(n)))


# -- summaries ---------------------------------------------------------------------------------

def test_summary_of_known_samples():
    s = stats.summarize([1, 2, 3, 4, 100])
    assert s.median == 3 and s.min == 1 and s.max == 100 and s.n == 5
    assert s.iqr == pytest.approx(2.0)  # q75 = 4, q25 = 2
    assert s.samples == [1.0, 2.0, 3.0, 4.0, 100.0]  # every sample kept, in order
    assert s.cv == pytest.approx(np.std([1, 2, 3, 4, 100], ddof=1) / 22)


def test_cv_edge_cases():
    assert stats.cv([5.0]) == 0.0
    assert stats.cv([3.0, 3.0, 3.0]) == 0.0
    assert stats.cv([0.0, 0.0]) == 0.0
    assert math.isinf(stats.cv([-1.0, 1.0]))
    with pytest.raises(ValueError):
        stats.summarize([])


# -- comparison: the five known cases -----------------------------------------------------------

def test_identical_samples_show_no_difference():
    c = stats.compare([10.0] * 7, [10.0] * 7, "higher")
    assert c.ratio == 1.0 and c.ci_low == 1.0 and c.ci_high == 1.0
    assert c.p_value == 1.0 and not c.significant and c.status == "no significant difference"


def test_clear_two_fold_shift_is_significant_in_both_directions():
    base = noisy(100.0, 8, 0.02, seed=1)
    cand = noisy(200.0, 8, 0.02, seed=2)
    higher = stats.compare(cand, base, "higher")
    assert higher.ratio == pytest.approx(2.0, rel=0.05)
    assert higher.p_value < 0.01 and higher.significant and higher.status == "better"
    assert higher.ci_low > 1.5 and higher.ci_low <= higher.ratio <= higher.ci_high
    lower = stats.compare(cand, base, "lower")  # e.g. seconds: twice the time is worse
    assert lower.significant and lower.status == "worse"
    assert lower.oriented == pytest.approx(0.5, rel=0.05)
    assert lower.oriented_ci_low <= lower.oriented <= lower.oriented_ci_high < 1


def test_pure_noise_is_rarely_called_significant():
    """Same distribution on both sides: the false-positive rate must stay well under alpha."""
    calls = [stats.compare(noisy(50.0, 7, 0.05, seed=s), noisy(50.0, 7, 0.05, seed=10_000 + s), "higher")
             for s in range(200)]
    false_positives = sum(c.significant for c in calls)
    assert false_positives <= 10, f"{false_positives}/200 noise comparisons called significant"
    assert all(c.p_value is not None and 0 <= c.p_value <= 1 for c in calls)


def test_shift_inside_the_band_is_no_significant_difference_even_when_p_is_tiny():
    base = noisy(1000.0, 30, 0.002, seed=3)
    cand = [x * 1.02 for x in noisy(1000.0, 30, 0.002, seed=4)]
    c = stats.compare(cand, base, "higher")
    assert c.p_value < 0.001  # statistically real...
    assert c.ratio == pytest.approx(1.02, abs=0.005)
    assert not c.significant and c.status == "no significant difference"  # ...but inside +/-3 %
    wide = stats.compare(cand, base, "higher", effect_band=0.01)
    assert wide.significant and wide.status == "better"


def test_too_few_samples_gives_no_verdict():
    c = stats.compare([2.0, 2.1, 2.2], [1.0, 1.1, 1.0], "higher")
    assert c.status == "too few samples" and c.p_value is None and not c.significant
    assert c.ci_low is None and c.ratio == pytest.approx(2.1)


def test_zero_baseline_is_undefined_not_a_crash():
    c = stats.compare([1.0] * 5, [0.0] * 5, "higher")
    assert c.status == "undefined" and c.ratio is None and not c.significant


def test_bootstrap_is_deterministic_and_seed_dependent():
    a, b = noisy(10, 9, 0.1, 5), noisy(12, 9, 0.1, 6)
    assert stats.bootstrap_ratio_ci(a, b) == stats.bootstrap_ratio_ci(a, b)
    assert stats.bootstrap_ratio_ci(a, b, seed=1) != stats.bootstrap_ratio_ci(a, b, seed=2)


def test_bad_direction_is_refused():
    with pytest.raises(ValueError, match="direction"):
        stats.compare([1.0] * 5, [1.0] * 5, "up")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=1, max_value=1e6), min_size=5, max_size=12),
       st.floats(min_value=0.1, max_value=10))
def test_ratio_of_a_scaled_copy_is_the_scale(base, scale):
    c = stats.compare([x * scale for x in base], base, "higher")
    assert c.ratio == pytest.approx(scale, rel=1e-9)
    assert c.ci_low <= c.ratio * (1 + 1e-9) and c.ci_high >= c.ratio * (1 - 1e-9)


# -- suite summary -----------------------------------------------------------------------------

def test_suite_summary_is_a_direction_aware_geometric_mean():
    # twice the throughput and twice the latency cancel out
    assert stats.suite_summary([(2.0, "higher"), (2.0, "lower")]) == pytest.approx(1.0)
    assert stats.suite_summary([(4.0, "higher"), (0.25, "lower")]) == pytest.approx(4.0)
    assert stats.suite_summary([(0.1, "higher"), (10.0, "higher")]) == pytest.approx(1.0)
    assert math.isnan(stats.geometric_mean([]))
    with pytest.raises(ValueError):
        stats.geometric_mean([1.0, 0.0])


# -- repeated measurement ----------------------------------------------------------------------

def test_stable_measure_stops_at_min_runs_and_drops_warmup():
    values = iter([500.0] + [100.0] * 50)  # a cold first run
    series = stats.measure_until_stable(lambda: next(values), warmup=1, min_runs=5, max_runs=10)
    assert series.warmup == {"value": [500.0]}
    assert series.samples == {"value": [100.0] * 5} and series.runs == 5 and series.stable


def test_noisy_measure_runs_to_the_cap_and_says_unstable():
    values = itertools.cycle([90.0, 110.0])
    series = stats.measure_until_stable(lambda: next(values), warmup=0, min_runs=5, max_runs=9)
    assert series.runs == 9 and not series.stable
    assert series.cvs()["value"] > 0.03


def test_extra_runs_are_made_until_the_cv_settles():
    values = iter([80.0, 120.0] + [100.0] * 200)
    series = stats.measure_until_stable(lambda: next(values), warmup=0, min_runs=5, max_runs=200)
    assert 5 < series.runs < 200 and series.stable
    assert series.samples["value"][:2] == [80.0, 120.0]  # the noisy samples are kept, not trimmed


def test_several_metrics_per_run_all_must_settle():
    counter = itertools.count()

    def measure():
        i = next(counter)
        return {"steady": 10.0, "wobbly": 10.0 + (3.0 if i % 2 else -3.0) if i < 8 else 10.0}

    series = stats.measure_until_stable(measure, warmup=0, min_runs=5, max_runs=100)
    assert series.runs > 8 and set(series.samples) == {"steady", "wobbly"}


def test_interleaving_alternates_the_order_of_sides():
    calls: list[str] = []
    a = lambda: calls.append("A") or 1.0  # noqa: E731
    b = lambda: calls.append("B") or 2.0  # noqa: E731
    sa, sb = stats.measure_interleaved([a, b], warmup=1, min_runs=3, max_runs=3)
    assert "".join(calls) == "AB" "BA" "AB" "BA"
    assert sa.samples["value"] == [1.0] * 3 and sb.samples["value"] == [2.0] * 3 and sa.runs == sb.runs == 3


def test_bad_plan_is_refused():
    with pytest.raises(ValueError, match="min_runs"):
        stats.measure_until_stable(lambda: 1.0, min_runs=5, max_runs=3)


# -- service-level helpers ---------------------------------------------------------------------

def test_availability_bounds_show_what_a_short_window_cannot_prove():
    low, high = stats.availability_bounds(60, 60)
    assert high == 1.0 and 0.9 < low < 0.9999
    low, high = stats.availability_bounds(99_999, 100_000)
    assert low < 0.99999 < high
    assert stats.availability_bounds(0, 10)[0] == 0.0


def test_percentiles_and_fluctuation():
    data = list(range(1, 101))
    assert stats.percentile(data, 50) == pytest.approx(50.5)
    assert stats.percentile(data, 99) == pytest.approx(99.01)
    f = stats.fluctuation([50.0, 52.0, 48.0, 50.0])
    assert f["mean"] == 50.0 and f["range_ratio"] == pytest.approx(0.08)
    assert f["cv"] == pytest.approx(np.std([50, 52, 48, 50], ddof=1) / 50)
