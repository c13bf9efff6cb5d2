"""The perf suite's own hooks: make sure its plugin is loaded, and one check per product workload.

`xch run --suite perf` works even before the CLI loads harness.perf.plugin itself: this conftest
registers the plugin when it is missing (its options then still parse, because pytest calls
`pytest_addoption` of late plugins too). Options reach pytest after `--`:
`xch run --suite perf --targets lab-arm64 -- --baseline role=baseline`.
"""

from __future__ import annotations

import pytest

from harness.core.errors import XchError

PLUGIN = "harness.perf.plugin"


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    if not pluginmanager.has_plugin(PLUGIN):
        pluginmanager.import_plugin(PLUGIN)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`workload` is parametrised over the product's [[workloads]] (one skipped case when none)."""
    if "workload" not in metafunc.fixturenames:
        return
    from harness.perf.workloads import load_workloads

    product = metafunc.config.getoption("--product")
    if not product:
        params = [pytest.param(None, id="no-product")]
    else:
        try:
            workloads = load_workloads(product)
        except XchError as exc:
            raise pytest.UsageError(exc.message) from None
        params = [pytest.param(w, id=w.name) for w in workloads] or [pytest.param(None, id="no-workloads")]
    metafunc.parametrize("workload", params)
