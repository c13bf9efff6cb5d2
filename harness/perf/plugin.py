"""pytest plugin of the perf suite: baseline options, criteria, and the `perf` fixture.

Load it with `-p harness.perf.plugin` (suites/perf/conftest.py also registers it when missing):

    --baseline SEL          the baseline target (name or label, e.g. role=baseline); a check on any
                            other target measures it interleaved with this one
    --baseline-run DIR      compare with the samples stored in an earlier run folder instead
                            (with --baseline, SEL picks the target inside that run)
    --perf-criteria FILE    criteria file (default: whitelist/perf-criteria.toml); a product's own
                            perf-criteria.toml next to its product.toml is laid over it
    --perf-parallel         let checks on different targets measure at the same time (default: one
                            measurement at a time per run, so targets sharing hardware or a
                            baseline do not disturb each other)

Bad options are usage errors before anything runs (exit 2 through `xch run`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.core.errors import InputError, XchError
from harness.inventory import Inventory, load_inventory
from harness.perf.baseline import StoredBaseline, load_stored, resolve_live
from harness.perf.check import PerfCheck, Side
from harness.perf.criteria import DEFAULT_FILE, Criteria, load_criteria
from harness.perf.tools import ToolStatus

_KEY = pytest.StashKey["PerfState"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("xch-perf", "xch performance suite")
    group.addoption("--baseline", default=None, metavar="SEL",
                    help="baseline target (name or label) to compare every other target with, interleaved")
    group.addoption("--baseline-run", default=None, metavar="DIR",
                    help="run folder whose recorded samples are the baseline")
    group.addoption("--perf-criteria", default=None, metavar="FILE",
                    help="perf criteria TOML (default: whitelist/perf-criteria.toml)")
    group.addoption("--perf-parallel", action="store_true", default=False,
                    help="allow measurements on different targets at the same time")


def pytest_configure(config: pytest.Config) -> None:
    state = PerfState(config)
    try:
        state.validate()
    except XchError as exc:
        raise pytest.UsageError(exc.message) from None
    config.stash[_KEY] = state


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_KEY, None)
    if state:
        state.close()


class PerfState:
    """Per-process: the criteria, the baseline (resolved once), its connection, caches and locks."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.root = Path(config.rootpath)
        run_dir = config.getoption("--run-dir", default=None)
        self.run_dir = Path(run_dir).resolve() if run_dir else None
        self.selector: str | None = config.getoption("--baseline")
        self.baseline_run: str | None = config.getoption("--baseline-run")
        self.parallel: bool = config.getoption("--perf-parallel")
        self.live_name: str | None = None
        self.stored: StoredBaseline | None = None
        self._inventory: Inventory | None = None
        self._criteria: Criteria | None = None
        self.base_conns: dict[str, Any] = {}
        self.base_facts: dict[str, dict[str, Any]] = {}
        self.tool_cache: dict[tuple[str, str], ToolStatus] = {}

    # -- options ----------------------------------------------------------------------------------
    def validate(self) -> None:
        self.criteria()
        if self.baseline_run:
            path = Path(self.baseline_run)
            if not path.is_absolute():
                path = (Path.cwd() / path) if (Path.cwd() / path).exists() else self.root / path
            self.stored = load_stored(path, self.selector)
        elif self.selector:
            self.live_name = resolve_live(self.inventory(), self.selector).name

    def inventory(self) -> Inventory:
        if self._inventory is None:
            files = [Path(f) for f in self.config.getoption("--inventory", default=[]) or []]
            self._inventory = load_inventory(files or None, self.root)
        return self._inventory

    def criteria(self) -> Criteria:
        if self._criteria is None:
            given = self.config.getoption("--perf-criteria")
            base = Path(given) if given else self.root / DEFAULT_FILE
            if given and not base.exists():
                raise InputError(f"--perf-criteria {given}: no such file")
            self._criteria = load_criteria(base, self._product_criteria())
        return self._criteria

    def _product_criteria(self) -> Path | None:
        product = self.config.getoption("--product", default=None)
        if not product:
            return None
        path = Path(product)
        folder = path if path.is_dir() else path.parent
        return folder / "perf-criteria.toml"

    # -- the live baseline --------------------------------------------------------------------------
    def live_side(self, candidate: str) -> Side | None:
        """A connected Side for the live baseline, unless there is none or `candidate` is it."""
        if not self.live_name or candidate == self.live_name:
            return None
        from harness.facts.gather import gather_facts
        from harness.transport import open_connection

        conn = self.base_conns.get(candidate)
        if conn is None:
            log_dir = self.run_dir / "logs" / self.live_name / f"as-baseline-for-{candidate}" if self.run_dir else None
            conn = open_connection(self.inventory().get(self.live_name), self.inventory(), log_dir)
            self.base_conns[candidate] = conn
        conn.connect()
        if self.live_name not in self.base_facts:
            self.base_facts[self.live_name] = gather_facts(conn.run)
        return Side(conn, self.base_facts[self.live_name])

    # -- measuring one at a time --------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, names: list[str]) -> Iterator[None]:
        """Exclusive file locks (shared by xdist workers of this run): one for the whole run, or
        one per target involved (sorted, so two checks never wait on each other in a circle)."""
        folder = (self.run_dir / ".perf-locks") if self.run_dir else Path(tempfile.gettempdir()) / f"xch-perf-locks-{os.getuid()}"
        folder.mkdir(parents=True, exist_ok=True)
        keys = sorted(set(names)) if self.parallel else ["run"]
        handles = []
        try:
            for key in keys:
                fh = open(folder / f"{key}.lock", "a+")
                fcntl.flock(fh, fcntl.LOCK_EX)
                handles.append(fh)
            yield
        finally:
            for fh in reversed(handles):
                fcntl.flock(fh, fcntl.LOCK_UN)
                fh.close()

    def close(self) -> None:
        for conn in self.base_conns.values():
            with contextlib.suppress(Exception):
                conn.close()


def perf_state(config: pytest.Config) -> PerfState:
    return config.stash[_KEY]


@pytest.fixture
def perf(request: pytest.FixtureRequest, target: Any, facts: dict[str, Any], evidence: dict[str, Any],
         metrics: list[dict[str, Any]]) -> PerfCheck:
    """A PerfCheck bound to this check's target, its baseline and the run's criteria."""
    state = perf_state(request.config)
    mark = request.node.get_closest_marker("check")
    check_id = str(mark.args[0]) if mark and mark.args else request.node.name
    note = ""
    if state.live_name and target.name == state.live_name:
        note = f"{target.name} is the baseline of this run: measured alone / 本目标即基线，单独测量"
    live = state.live_side(target.name)
    return PerfCheck(check_id=check_id, test_name=getattr(request.node, "originalname", request.node.name),
                     node=request.node, side=Side(target, facts), evidence=evidence, metrics=metrics,
                     criteria=state.criteria(), live_baseline=live,
                     stored_baseline=None if live else state.stored, baseline_note=note,
                     tool_cache=state.tool_cache, lock=state.lock)


@pytest.fixture
def perf_criteria(request: pytest.FixtureRequest) -> Criteria:
    return perf_state(request.config).criteria()
