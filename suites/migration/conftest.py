"""Behaviour parity suite: one check per [[check]] of the parity file, per destination target.

Selecting the systems (pytest options belong to the xch plugin, so this suite reads environment
variables, falling back to the parity file's fields):
- XCH_PARITY_FILE: the parity file (default: suites/migration/parity/default.toml);
- XCH_PARITY_SOURCE: selector of the source system (overrides the file's `source`; exactly one target);
- XCH_PARITY_DESTINATION: selector restricting destinations (overrides `destination`).
Destinations are the targets `xch run --targets` selects; the source itself, if selected, is skipped.

    XCH_PARITY_SOURCE=lab-x86 xch run --suite migration --targets lab-arm64
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from harness.core.errors import XchError
from harness.migrate.parity import ParitySpec, load_parity

DEFAULT_PARITY = Path(__file__).parent / "parity" / "default.toml"
_SPEC_KEY = pytest.StashKey[ParitySpec]()


def parity_spec_for(config: pytest.Config) -> ParitySpec:
    if _SPEC_KEY not in config.stash:
        path = Path(os.environ.get("XCH_PARITY_FILE") or DEFAULT_PARITY)
        try:
            config.stash[_SPEC_KEY] = load_parity(path, os.environ.get("XCH_PARITY_SOURCE") or None,
                                                  os.environ.get("XCH_PARITY_DESTINATION") or None)
        except XchError as exc:
            raise pytest.UsageError(exc.message) from None
    return config.stash[_SPEC_KEY]


def pytest_configure(config: pytest.Config) -> None:
    """Validate the parity file before collection: a bad file is a usage error (xch exit code 2)."""
    parity_spec_for(config)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "parity_case" in metafunc.fixturenames:
        spec = parity_spec_for(metafunc.config)
        metafunc.parametrize("parity_case", [
            pytest.param(c, id=c.id, marks=pytest.mark.check(c.id, level=c.level)) for c in spec.checks])


@pytest.fixture(scope="session")
def parity_spec(request: pytest.FixtureRequest) -> ParitySpec:
    return parity_spec_for(request.config)


class _Source:
    """The source system's connection and its results, cached per worker (each command runs once)."""

    def __init__(self, config: pytest.Config, spec: ParitySpec) -> None:
        from harness.inventory import load_inventory

        files = [Path(f) for f in config.getoption("--inventory")]
        try:
            self.inventory = load_inventory(files or None, Path(config.rootpath))
            chosen = self.inventory.select(spec.source)
        except XchError as exc:
            raise pytest.UsageError(f"parity source: {exc.message}") from None
        if len(chosen) != 1:
            raise pytest.UsageError(f"parity source {spec.source!r} must select exactly one target, it selects "
                                    f"{', '.join(t.name for t in chosen)}")
        self.target = chosen[0]
        self.name = self.target.name
        run_dir = config.getoption("--run-dir")
        self.log_dir = Path(run_dir) / "logs" / f"{self.name}.parity-source" if run_dir else None
        self.conn: Any = None
        self.results: dict[str, Any] = {}
        self.hostname = ""

    def connection(self) -> Any:
        from harness.transport import open_connection

        if self.conn is None:
            self.conn = open_connection(self.target, self.inventory, self.log_dir)
            self.conn.connect()  # unreachable -> XchError -> the check is an error, not a failure
            self.hostname = self.conn.run("hostname", timeout=30).stdout.strip()
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


@pytest.fixture(scope="session")
def parity_source(request: pytest.FixtureRequest, parity_spec: ParitySpec) -> Any:
    source = _Source(request.config, parity_spec)
    yield source
    source.close()
