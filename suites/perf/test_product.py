"""Product performance: workloads from product.toml (PERF-WL) and service levels (PERF-SVC).

Workloads are compared with the baseline like the micro-benchmarks; service levels are absolute
limits from the programme plan (probe p99 <= 5 s under load, availability >= 99.99 %, recovery
after kill -9 <= 15 min), set in whitelist/perf-criteria.toml.

These checks measure the product as it runs on the target: they do not install it. `xch certify`
deploys the product (install, start, health) on one target at a time around this file's run
(harness/certify/orchestrate.py); run on its own, the product must already be up, or the workload's own
`setup`/`teardown` and [perf.service] `setup`/`teardown` commands bring it up.
"""

from __future__ import annotations

import contextlib

import pytest

from harness.perf import service
from harness.perf.workloads import load_service_config


@pytest.mark.check("PERF-WL-001", level="optional")
def test_product_workload(perf, workload, product):
    if workload is None:
        pytest.skip("no --product given" if not product else "the product declares no [[workloads]]")
    perf.evidence["workload"] = {"name": workload.name, "command": workload.command}
    perf.run_workload(workload)
    perf.conclude()


@contextlib.contextmanager
def _service_up(target, cfg):
    """The manifest's setup before, its teardown after, even when the measurement fails."""
    if cfg.setup:
        target.run(cfg.setup, timeout=900).check()
    try:
        yield
    finally:
        if cfg.teardown:
            target.run(cfg.teardown, timeout=300)


def _service(product):
    if not product:
        pytest.skip("no --product given")
    cfg = load_service_config(product)
    if cfg is None:
        pytest.skip("the product declares no [perf.service] (probe, load, kill)")
    return cfg


@pytest.mark.check("PERF-SVC-001", level="mandatory")
def test_probe_under_load_and_availability(perf, product, target, evidence):
    cfg = _service(product)
    settings = perf.criteria.service
    load = service.Background(target, cfg.load) if cfg.load else None
    with _service_up(target, cfg), perf.lock([target.name]):
        if load:
            load.start()
        try:
            probes = service.probe_window(target, cfg, settings.window_s, settings.interval_s, settings.probe_timeout_s)
        finally:
            load_tail = load.stop() if load else ""
    evidence["service"] = {"probe": cfg.probe, "load": cfg.load or None, "window_s": settings.window_s,
                           "interval_s": settings.interval_s, "probes": len(probes),
                           "load_output_tail": load_tail[-500:] or None}
    for record in service.probe_metrics(probes, perf.criteria.plan.bootstrap, perf.criteria.plan.seed,
                                        under_load=bool(cfg.load)):
        perf.add_metric(record)
    perf.conclude()


@pytest.mark.check("PERF-SVC-002", level="mandatory")
def test_recovery_after_kill(perf, product, target, evidence):
    cfg = _service(product)
    if not cfg.kill:
        pytest.skip("the product's [perf.service] has no kill command")
    settings = perf.criteria.service
    with _service_up(target, cfg), perf.lock([target.name]):
        record = service.measure_recovery(target, cfg, settings.recovery_limit_s, settings.recovery_poll_s,
                                          settings.probe_timeout_s)
    evidence["service"] = {"kill": cfg.kill, "restart": cfg.restart or None, "recovered": record["recovered"]}
    perf.add_metric(record)
    perf.conclude()
