"""Suite-local fixtures of the compat suite: the loaded product and a lifecycle state per target.

- Checks of one target run one after another in file order, and all checks of one target finish
  before the next target starts (items are regrouped by target below). On the lab the targets
  share the host's network namespace, so two targets running the same service port at once would
  collide: certify on the lab serially (no -n). With -n, one worker owns each target anyway.
- Each check records whether its step succeeded; a later check that depends on it is skipped with
  a reason naming the failed check, and checks that can still run (stop, uninstall, residue) do.
- After the last check of a target, whatever is still installed or running is removed (best effort)
  so the next target, or the next run, starts from a clean machine.
- On the controller, session start writes `<run_dir>/product.json` (shared contract) with the
  artifacts' sha256 and SM3 digests.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.core.errors import XchError
from harness.product import Product, load_product
from harness.product.lifecycle import Driver, Snapshot

NOT_APPLICABLE = "not applicable"
# Step name -> the check that performs it (for skip reasons).
STEP_CHECKS = {
    "platform": "COMPAT-PLATFORM-001", "artifacts": "COMPAT-ARTIFACT-001", "arch": "COMPAT-ARCH-001",
    "glibc": "COMPAT-GLIBC-001", "deps": "COMPAT-DEPS-001", "install": "COMPAT-INSTALL-001",
    "libs": "COMPAT-LIBS-001", "rpath": "COMPAT-RPATH-001", "start": "COMPAT-START-001",
    "health": "COMPAT-HEALTH-001", "ports": "COMPAT-PORTS-001", "smoke": "COMPAT-SMOKE-001",
    "restart": "COMPAT-RESTART-001", "recovery": "COMPAT-RECOVERY-001", "stop": "COMPAT-STOP-001",
    "idle": "COMPAT-IDLE-001", "uninstall": "COMPAT-UNINSTALL-001", "residue": "COMPAT-RESIDUE-001",
}


@dataclass
class TargetState:
    """What the checks of one target learn and hand on to the next ones."""

    name: str
    driver: Driver | None = None
    reports: list[dict[str, Any]] = field(default_factory=list)
    steps: dict[str, str] = field(default_factory=dict)
    before_install: Snapshot | None = None
    fs_before: set[str] | None = None
    before_start: Snapshot | None = None
    files: list[str] = field(default_factory=list)
    leftover_pids: list[int] = field(default_factory=list)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Record how a check's step ended: 'ok', or the first line of why not."""
        try:
            yield
        except pytest.skip.Exception as exc:
            if self.steps.get(name) != NOT_APPLICABLE:
                self.steps[name] = f"skipped: {exc.msg}"
            raise
        except BaseException as exc:
            first = (str(exc) or type(exc).__name__).strip().splitlines()
            self.steps[name] = first[0][:300] if first else type(exc).__name__
            raise
        else:
            self.steps[name] = "ok"

    def not_applicable(self, name: str, reason: str) -> None:
        """Skip the current check because its step does not apply to this product (a tar.gz has no
        package-manager dependencies): unlike a failed or blocked step, the checks after it still run."""
        self.steps[name] = NOT_APPLICABLE
        pytest.skip(reason)

    def need(self, *names: str, attempted: bool = False) -> None:
        """Skip the current check when a step it depends on did not succeed (or, with attempted, did not run)."""
        for name in names:
            status = self.steps.get(name)
            if status in ("ok", NOT_APPLICABLE) or (attempted and status is not None):
                continue
            check = STEP_CHECKS.get(name, name)
            why = "did not run" if status is None else ("was skipped" if status.startswith("skipped") else f"failed: {status}")
            pytest.skip(f"cannot run: {check} {why}")


_STATES: dict[str, TargetState] = {}
_PRODUCTS: dict[str, Product] = {}


def _load(path: str) -> Product:
    if path not in _PRODUCTS:
        _PRODUCTS[path] = load_product(path)
    return _PRODUCTS[path]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Fail early on a bad manifest (product.json is written by harness.plugin)."""
    path = session.config.getoption("--product", None)
    if not path:
        return
    try:
        _load(path)
    except XchError as exc:
        raise pytest.UsageError(exc.message) from None


def _target_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("target") if callspec else None


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """All checks of one target, in file order, before the next target's (a stable, deterministic sort)."""
    order: dict[str, int] = {}
    for item in items:
        order.setdefault(_target_of(item) or "", len(order))
    items.sort(key=lambda item: order[_target_of(item) or ""])


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After a target's last check: clean the target up (best effort)."""
    name = _target_of(item)
    if name is None or (nextitem is not None and _target_of(nextitem) == name):
        return
    state = _STATES.pop(name, None)
    if state is None or state.driver is None:
        return
    try:
        done = state.driver.cleanup(state.before_install, state.files, state.leftover_pids)
        if done:
            print(f"\ncompat cleanup on {name}: {'; '.join(done)}", file=sys.stderr)
    except Exception as exc:  # cleanup must never turn a finished check into an error
        print(f"\ncompat cleanup on {name} failed: {exc}", file=sys.stderr)


@pytest.fixture
def compat_product(product: str | None) -> Product:
    """The submission given with --product, validated."""
    if not product:
        pytest.fail("the compat suite needs --product PATH (a product folder or product.toml)", pytrace=False)
    try:
        return _load(product)
    except XchError as exc:
        pytest.fail(exc.message, pytrace=False)


@pytest.fixture
def state(target: Any, facts: dict[str, Any], compat_product: Product) -> TargetState:
    """This target's lifecycle state, shared by the checks in order."""
    st = _STATES.get(target.name)
    if st is None:
        st = _STATES[target.name] = TargetState(target.name)
    if st.driver is None:
        st.driver = Driver(target=target, facts=facts, product=compat_product, fetched=[])
    st.driver.target = target  # a reconnect gives a new connection object
    return st
