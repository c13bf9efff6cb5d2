"""Criteria files and verdicts: limits decided on confidence intervals, noise never passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.errors import InputError
from harness.perf.criteria import Criteria, Criterion, Plan, check_outcome, judge, load_criteria

PROJECT = Path(__file__).resolve().parents[2]


def metric(**kw):
    base = {"name": "m", "unit": "x", "direction": "higher", "value": 10.0, "value_ci": [9.0, 11.0], "cv": 0.01,
            "baseline": None}
    return {**base, **kw}


def baseline(lo, mid, hi, cv=0.01, status="worse"):
    return {"target": "x86", "oriented_ci_low": lo, "oriented_ratio": mid, "oriented_ci_high": hi, "cv": cv,
            "status": status}


def test_shipped_file_loads_with_the_programme_defaults():
    crit = load_criteria(PROJECT / "whitelist" / "perf-criteria.toml")
    assert crit.plan.min_runs >= 5 and crit.plan.cv_threshold == 0.03 and crit.plan.effect_band == 0.03
    assert crit.for_metric("service.probe.p99_s").max == 5.0
    assert crit.for_metric("service.availability").min == 0.9999
    assert crit.for_metric("service.recovery_s").max == 900.0
    assert crit.for_metric("disk.rand_read_iops").pattern == "disk.*"  # glob
    assert crit.for_metric("workload.redis.set_rps").min_ratio == 0.8
    assert crit.for_metric("nothing.here") is None


def test_builtin_service_levels_apply_without_a_file(tmp_path):
    crit = load_criteria(tmp_path / "missing.toml")
    assert crit.for_metric("service.probe.p99_s").max == 5.0 and crit.sources == []


def test_later_files_override_and_bad_files_name_every_problem(tmp_path):
    a = tmp_path / "a.toml"
    a.write_text('[measurement]\nmin_runs = 7\n[metrics."cpu.x"]\nmin_ratio = 0.9\nmandatory = true\n')
    b = tmp_path / "b.toml"
    b.write_text('[metrics."cpu.x"]\nmin_ratio = 0.7\n')
    crit = load_criteria(a, b)
    assert crit.plan.min_runs == 7 and crit.for_metric("cpu.x") == Criterion("cpu.x", min_ratio=0.7)
    bad = tmp_path / "bad.toml"
    bad.write_text('[measurement]\nmin_runs = "five"\nspeed = 1\n[metrics."cpu.x"]\nmin_ratio = -1\nmust = true\n'
                   '[extra]\n')
    with pytest.raises(InputError) as err:
        load_criteria(bad)
    text = err.value.message
    for piece in ("min_runs", "speed", "min_ratio", "must", "[extra]", str(bad)):
        assert piece in text


def test_ratio_limit_uses_the_confidence_interval():
    c = Criterion("m", min_ratio=0.8)
    assert judge(metric(baseline=baseline(0.85, 0.9, 0.95)), c, Plan())[0] == "passed"
    assert judge(metric(baseline=baseline(0.2, 0.25, 0.3)), c, Plan())[0] == "failed"
    verdict, reason = judge(metric(baseline=baseline(0.7, 0.85, 1.0)), c, Plan())
    assert verdict == "inconclusive" and "contains the limit" in reason
    assert judge(metric(baseline=None), c, Plan())[0] == "measured"  # no baseline: not evaluated, not passed


def test_too_few_samples_is_inconclusive():
    b = {"target": "x86", "oriented_ci_low": None, "oriented_ratio": 0.5, "oriented_ci_high": None,
         "status": "too few samples"}
    assert judge(metric(baseline=b), Criterion("m", min_ratio=0.8), Plan())[0] == "inconclusive"


def test_noise_never_passes_but_a_clear_miss_still_fails():
    c = Criterion("m", min_ratio=0.5)
    verdict, reason = judge(metric(cv=0.25, baseline=baseline(0.9, 1.0, 1.1)), c, Plan(max_cv=0.10))
    assert verdict == "inconclusive" and "too noisy" in reason and "25.0%" in reason
    assert judge(metric(cv=0.25, baseline=baseline(0.1, 0.2, 0.3)), c, Plan(max_cv=0.10))[0] == "failed"
    assert judge(metric(cv=0.25, baseline=baseline(0.9, 1.0, 1.1)), Criterion("m", min_ratio=0.5, max_cv=0.3),
                 Plan(max_cv=0.10))[0] == "passed"


def test_absolute_limits_and_unbounded_intervals():
    p99 = metric(unit="s", direction="lower", value=0.2, value_ci=[0.1, 0.3], repeated=False)
    assert judge(p99, Criterion("m", max=5.0), Plan())[0] == "passed"
    assert judge({**p99, "value_ci": [6.0, 7.0]}, Criterion("m", max=5.0), Plan())[0] == "failed"
    assert judge({**p99, "value_ci": [4.0, 6.0]}, Criterion("m", max=5.0), Plan())[0] == "inconclusive"
    never_recovered = metric(value=30.0, value_ci=[30.0, None], repeated=False)
    assert judge(never_recovered, Criterion("m", max=900.0), Plan())[0] == "inconclusive"
    assert judge(metric(value=1000.0, value_ci=[1000.0, None]), Criterion("m", max=900.0), Plan())[0] == "failed"
    # 60 of 60 probes healthy: the lower bound (~94 %) cannot show 99.99 %
    avail = metric(value=1.0, value_ci=[0.94, 1.0], repeated=False)
    assert judge(avail, Criterion("m", min=0.9999), Plan())[0] == "inconclusive"
    assert judge(avail, Criterion("m", min=0.9), Plan())[0] == "passed"


def test_fluctuation_limit():
    assert judge(metric(fluctuation=0.02), Criterion("m", max_fluctuation=0.05), Plan())[0] == "passed"
    assert judge(metric(fluctuation=0.2), Criterion("m", max_fluctuation=0.05), Plan())[0] == "failed"


def test_no_criterion_is_measured():
    assert judge(metric(), None, Plan())[0] == "measured"


def test_check_outcome_prefers_mandatory_metrics():
    assert check_outcome([("a", "failed", False), ("b", "passed", True)]) == ("passed", "mandatory", "")
    assert check_outcome([("a", "failed", False), ("b", "passed", False)])[:2] == ("failed", "optional")
    assert check_outcome([("a", "inconclusive", True), ("b", "failed", True)])[0] == "failed"
    assert check_outcome([("a", "inconclusive", True)])[0] == "inconclusive"
    assert check_outcome([]) == ("passed", "optional", "")


def test_default_criteria_object():
    assert Criteria().for_metric("service.availability").mandatory


@pytest.mark.parametrize("text, expected", [
    ('[metrics."cpu.x"]\nmin_ratio = nan\n', "field 'min_ratio' must be a non-negative finite number, got nan"),
    ('[metrics."cpu.x"]\nmax = inf\n', "field 'max' must be a non-negative finite number, got inf"),
    ("[measurement]\nmax_runs = 1000000000000\n", "[measurement]: field 'max_runs' must be int (like 12, at most 1,000,000)"),
    ("[measurement]\ncv_threshold = nan\n", "[measurement]: field 'cv_threshold' must be float"),
])
def test_criteria_numbers_are_finite_and_bounded(tmp_path, text, expected):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_criteria(path)
    assert f"{path}: " in info.value.message and expected in info.value.message
