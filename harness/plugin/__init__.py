"""pytest plugin: targets as a parametrised fixture, facts, check markers, and the run folder.

- `target` is parametrised over the selected targets (ids = names, sorted, so every xdist worker
  collects the same order); each target is one xdist group, so one worker owns its connection.
- A target that cannot be reached yields one short `error` per check (no traceback cascade): the
  first failure is remembered per worker and later checks fail fast with the same reason.
- `@pytest.mark.check("SMOKE-001", level="mandatory")` gives a check its stable id and level;
  `@pytest.mark.requires(arch="aarch64")` skips with a precise reason when facts do not match.
- Each check's outcome is appended to results.jsonl the moment it ends (see harness.runs).

Outcomes: passed; failed (an AssertionError: the product is at fault); error (anything else:
the harness or the target is at fault, e.g. unreachable, timeout); skipped (with its reason).
"""

from __future__ import annotations

import json
import os
import platform
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from harness import __version__, runs
from harness.core.errors import XchError
from harness.core.storage import atomic_write_json
from harness.inventory import Inventory, Target, load_inventory, parse_shard, shard

LEVELS = ("mandatory", "optional")
# After a target is found unreachable, its checks fail at once for this long; then one new
# connect is tried, so a short outage (a restarted sshd) does not write off the rest of the run.
UNREACHABLE_COOLDOWN_S = 30.0
_STATE_KEY = pytest.StashKey["_XchState"]()
_RECORD_KEY = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("xch", "xch targets and runs")
    group.addoption("--inventory", action="append", default=[], metavar="FILE",
                    help="inventory TOML file (repeatable; default: every targets/*.toml)")
    group.addoption("--targets", default="*", metavar="SEL",
                    help="targets by name or label key=value, comma-separated (default: all)")
    group.addoption("--shard", default=None, metavar="I/N",
                    help="run only the I-th of N deterministic slices of the selected targets")
    group.addoption("--product", default=None, metavar="PATH", help="product submission folder or product.toml")
    group.addoption("--run-dir", default=None, metavar="DIR", help="run folder to record results in")
    group.addoption("--check-timeout", type=float, default=3600.0, metavar="SECONDS",
                    help="wall-clock limit of one check, beyond its commands' own timeouts (default 3600)")
    group.addoption("--xch-resume", action="store_true", default=False,
                    help="run only the checks of --run-dir that are missing or ended in error")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "check(id, level='mandatory'): stable check id and certification level")
    config.addinivalue_line("markers", "requires(**facts): run only on targets whose facts match")
    config.stash[_STATE_KEY] = _XchState(config)


class _XchState:
    """Per-process state: inventory, connections, unreachable targets, cached facts."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.is_worker = hasattr(config, "workerinput")
        run_dir = config.getoption("--run-dir")
        self.run_dir = Path(run_dir).resolve() if run_dir else None
        self.run_id = self.run_dir.name if self.run_dir else ""
        self.worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        self._inventory: Inventory | None = None
        self._selected: list[Target] | None = None
        self.connections: dict[str, Any] = {}
        self.unreachable: dict[str, tuple[str, float]] = {}  # name -> (reason, when)
        self.facts: dict[str, dict[str, Any]] = {}

    @property
    def inventory(self) -> Inventory:
        if self._inventory is None:
            files = [Path(f) for f in self.config.getoption("--inventory")]
            try:
                self._inventory = load_inventory(files or None, Path(self.config.rootpath))
            except XchError as exc:
                raise pytest.UsageError(exc.message) from None
        return self._inventory

    def selected(self) -> list[Target]:
        if self._selected is None:
            try:
                selected = self.inventory.select(self.config.getoption("--targets"))
                if self.config.getoption("--shard"):
                    selected = shard(selected, *parse_shard(self.config.getoption("--shard")))
                self._selected = selected
            except XchError as exc:
                raise pytest.UsageError(exc.message) from None
        return self._selected

    def connection(self, name: str) -> Any:
        """The worker's connection to `name`, connected; raises XchError when unreachable."""
        from harness.transport import open_connection

        failed = self.unreachable.get(name)
        if failed and time.monotonic() - failed[1] < UNREACHABLE_COOLDOWN_S:
            raise _Unreachable(failed[0])  # fail fast: no connect timeout paid again per check
        conn = self.connections.get(name)
        if conn is None:
            log_dir = self.run_dir / "logs" / name if self.run_dir else None
            conn = open_connection(self.inventory.get(name), self.inventory, log_dir)
            self.connections[name] = conn
        try:
            conn.connect()
            if name not in self.facts:
                self._gather_facts(conn)
        except XchError as exc:
            self.unreachable[name] = (exc.message, time.monotonic())
            raise _Unreachable(exc.message) from None
        self.unreachable.pop(name, None)
        return conn

    def _gather_facts(self, conn: Any) -> None:
        """Facts once per target per worker, saved in the run folder for run.json and the whitelist."""
        from harness.facts.gather import gather_facts

        gathered = gather_facts(conn.run)
        self.facts[conn.name] = gathered
        if self.run_dir:
            atomic_write_json(self.run_dir / "facts" / f"{conn.name}.json", gathered)

    def close(self) -> None:
        for conn in self.connections.values():
            try:
                conn.close()
            except Exception:
                pass


class _Unreachable(Exception):
    pass


def _state(config: pytest.Config) -> _XchState:
    return config.stash[_STATE_KEY]


# -- parametrisation and collection ----------------------------------------------------------

@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # tryfirst: the target is parametrised before any other parameter, so its id always comes
    # first in the test id (`test_x[lab-x86-3]`), which target_in_nodeid relies on.
    if "target" in metafunc.fixturenames:
        # One xdist group per target, attached here (before any collection hook) so that with
        # --dist loadgroup one worker owns each target's connection.
        params = [pytest.param(t.name, id=t.name, marks=pytest.mark.xdist_group(t.name))
                  for t in _state(metafunc.config).selected()]
        metafunc.parametrize("target", params, indirect=True)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With `--dist loadgroup`, schedule whole targets to workers ourselves.

    xdist's own loadgroup rewrites `item._nodeid`, which pytest 9.2 no longer reads, so its
    grouping silently stopped working; grouping by the target id in the node id does not depend
    on pytest internals. One worker then owns every check of a target (and its connection).
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    names = sorted((t.name for t in _state(config).selected()), key=len, reverse=True)

    class TargetScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return target_in_nodeid(nodeid, names) or nodeid.rsplit("::", 1)[0]

        def remove_node(self, node: Any) -> str | None:
            """A crashed worker's check is recorded as an error and not run again: LoadScope would
            re-queue it with the rest of its target and crash every restarted worker in turn."""
            workload = self.assigned_work.get(node, {})
            crashed = next((nodeid for unit in workload.values() for nodeid, done in unit.items() if not done), None)
            for unit in workload.values():
                if crashed in unit:
                    unit[crashed] = True
            found = super().remove_node(node)
            return crashed if crashed is not None else found

    return TargetScheduling(config, log)


def target_in_nodeid(nodeid: str, names: list[str]) -> str | None:
    """The target name inside a node id's parameter part (`test_x[lab-x86-3]` -> `lab-x86`).

    The target id comes first (see pytest_generate_tests), so only a prefix match counts: another
    parameter that happens to equal a target name (`test_ping[lab-x86-lab-arm64]`) cannot confuse it.
    """
    nodeid = nodeid.split("@", 1)[0] if "]@" in nodeid else nodeid
    if not nodeid.endswith("]") or "[" not in nodeid:
        return None
    params = nodeid[nodeid.index("[") + 1:-1]
    for name in sorted(names, key=len, reverse=True):  # longest first: `lab-x86-2` before `lab-x86`
        if params == name or params.startswith(name + "-"):
            return name
    return None


@pytest.hookimpl(optionalhook=True)
def pytest_handlecrashitem(crashitem: str, report: Any, sched: Any) -> None:
    """A worker died in the middle of a check (a segfault, os._exit): record it as an error on the
    controller, since the worker could not; resume will run it again."""
    state = _state(sched.config) if hasattr(sched, "config") else None
    if state is None or state.run_dir is None:
        return
    names = [t.name for t in state.selected()]
    target_name = target_in_nodeid(crashitem, names)
    if target_name is None:
        return
    test_id = crashitem.split("@", 1)[0] if "]@" in crashitem else crashitem
    runs.append_record(state.run_dir, {
        "run_id": state.run_id, "target": target_name, "check_id": test_id.split("::")[-1].split("[")[0],
        "level": "mandatory", "outcome": "error",
        "reason": "the worker process running this check crashed (see the pytest output); no result was recorded",
        "duration_s": 0.0, "started_at": runs.utc_now(), "test_id": test_id, "worker": "controller",
        "evidence": {}, "metrics": [],
    })


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    state = _state(config)
    if config.getoption("--xch-resume") and state.run_dir:
        done = runs.done_keys(state.run_dir)
        keep, drop = [], []
        for item in items:
            (drop if (_target_of(item) or "", _test_id(item)) in done else keep).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep


def _target_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("target") if callspec else None


def _test_id(item: pytest.Item) -> str:
    """The node id without xdist's `@group` suffix, so ids match across serial and parallel runs."""
    nodeid = item.nodeid
    name = _target_of(item)
    suffix = f"@{name}"
    return nodeid[: -len(suffix)] if name and nodeid.endswith(suffix) else nodeid


def _check_marker(item: pytest.Item) -> tuple[str, str]:
    mark = item.get_closest_marker("check")
    if mark is None:
        return item.originalname if hasattr(item, "originalname") else item.name, "mandatory"
    check_id = mark.args[0] if mark.args else mark.kwargs.get("id", item.name)
    level = mark.kwargs.get("level", mark.args[1] if len(mark.args) > 1 else "mandatory")
    if level not in LEVELS:
        raise pytest.UsageError(f"{item.nodeid}: check level must be one of {LEVELS}, got {level!r}")
    return str(check_id), level


# -- fixtures ----------------------------------------------------------------------------------

@pytest.fixture
def target(request: pytest.FixtureRequest) -> Any:
    """A connected transport to the target of this parametrisation (harness.transport.Connection)."""
    state = _state(request.config)
    try:
        return state.connection(request.param)
    except _Unreachable as exc:
        pytest.fail(f"target unreachable: {exc}", pytrace=False)


@pytest.fixture
def facts(request: pytest.FixtureRequest, target: Any) -> dict[str, Any]:
    """Platform facts of the target, gathered when the worker first connected (see _XchState)."""
    return _state(request.config).facts[target.name]


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> dict[str, Any]:
    """A dict a check fills with evidence; it is stored with the check's record."""
    return request.node.stash.setdefault(_RECORD_KEY, {}).setdefault("evidence", {})


@pytest.fixture
def metrics(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    """A list a check appends metric dicts to; stored with the check's record."""
    return request.node.stash.setdefault(_RECORD_KEY, {}).setdefault("metrics", [])


@pytest.fixture
def product(request: pytest.FixtureRequest) -> str | None:
    """The --product path given to the run, if any (the compat suite loads it)."""
    return request.config.getoption("--product")


@pytest.fixture(autouse=True)
def _xch_requires(request: pytest.FixtureRequest) -> None:
    """Skip a check whose `requires` marker does not match the target's facts, saying why."""
    marks = list(request.node.iter_markers("requires"))
    if not marks or "target" not in request.fixturenames:
        return
    target_facts = request.getfixturevalue("facts")
    for mark in marks:
        for key, wanted in mark.kwargs.items():
            have = target_facts.get(key)
            accepted = wanted if isinstance(wanted, (list, tuple, set)) else (wanted,)
            if have not in accepted:
                shown = "|".join(map(str, accepted))
                pytest.skip(f"requires {key}={shown}; target {request.node.callspec.params['target']} has {key}={have}")


# -- the check timeout ------------------------------------------------------------------------

class CheckTimeout(XchError):
    """A check ran past --check-timeout (the harness or target is at fault: an error, not a failure)."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Bound the whole check with SIGALRM (main thread only, as pytest and xdist workers run checks)."""
    limit = item.config.getoption("--check-timeout")
    usable = limit and limit > 0 and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise CheckTimeout(f"check exceeded --check-timeout of {limit:g}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# -- recording --------------------------------------------------------------------------------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    _mask_report(item, report)
    data = item.stash.setdefault(_RECORD_KEY, {})
    data.setdefault("phases", {})[report.when] = (report, call.excinfo)
    if report.when == "setup" and "started_at" not in data:
        data["started_at"] = runs.utc_now()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    started = time.monotonic()
    yield
    state = _state(item.config)
    if state.run_dir is None or _target_of(item) is None:
        return
    data = item.stash.get(_RECORD_KEY, {})
    outcome, reason = _classify(data.get("phases", {}))
    check_id, level = _check_marker(item)
    record = {
        "run_id": state.run_id,
        "target": _target_of(item),
        "check_id": check_id,
        "level": level,
        "outcome": outcome,
        "reason": reason,
        "duration_s": round(time.monotonic() - started, 3),
        "started_at": data.get("started_at", runs.utc_now()),
        "test_id": _test_id(item),
        "worker": state.worker,
        "evidence": data.get("evidence", {}),
        "metrics": data.get("metrics", []),
    }
    mask = _masker_for(item) or (lambda text: text)
    runs.append_record(state.run_dir, _masked(_jsonable(record), mask))


def _masker_for(item: pytest.Item) -> Any:
    conn = _state(item.config).connections.get(_target_of(item) or "")
    return getattr(conn, "masker", None)


def _mask_report(item: pytest.Item, report: pytest.TestReport) -> None:
    """Console and JUnit output of a check must not show the target's secrets either."""
    mask = _masker_for(item)
    if mask is None:
        return
    if report.longrepr is not None and not isinstance(report.longrepr, tuple):
        text = str(report.longrepr)
        if mask(text) != text:
            report.longrepr = mask(text)
    report.sections = [(title, mask(content)) for title, content in report.sections]


def _classify(phases: dict[str, Any]) -> tuple[str, str]:
    """Map pytest's phases to our four outcomes, with a one-paragraph reason."""
    setup = phases.get("setup")
    call = phases.get("call")
    teardown = phases.get("teardown")
    if setup and setup[0].skipped:
        return "skipped", _skip_reason(setup[0])
    if setup and setup[0].failed:
        return "error", _reason(setup)
    if call is None:
        return "error", "check did not run"
    report, excinfo = call
    if report.skipped:
        return "skipped", _skip_reason(report)
    if report.failed:
        if excinfo is not None and excinfo.errisinstance(AssertionError):
            return "failed", _reason(call)
        return "error", _reason(call)
    if teardown and teardown[0].failed:
        return "error", "teardown: " + _reason(teardown)
    return "passed", ""


def _skip_reason(report: pytest.TestReport) -> str:
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return str(report.longrepr or "skipped")


def _reason(phase: tuple[pytest.TestReport, Any]) -> str:
    report, excinfo = phase
    if excinfo is None:
        return str(report.longrepr)[-2000:]
    if excinfo.errisinstance((XchError, pytest.fail.Exception)):
        return str(excinfo.value)[:2000]
    if excinfo.errisinstance(AssertionError):
        text = str(excinfo.value) or excinfo.exconly()
        return text[:2000]
    return f"harness error: {excinfo.exconly()}"[:2000]


def _masked(value: Any, mask: Any) -> Any:
    """Secrets of the target (passwords, passphrases) replaced in every string of a record."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, list):
        return [_masked(v, mask) for v in value]
    if isinstance(value, dict):
        return {k: _masked(v, mask) for k, v in value.items()}
    return value


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# -- the run folder's run.json and junit.xml (controller process only) --------------------------

def pytest_sessionstart(session: pytest.Session) -> None:
    state = _state(session.config)
    if state.run_dir is None or state.is_worker:
        return
    state.run_dir.mkdir(parents=True, exist_ok=True)
    (state.run_dir / "logs").mkdir(exist_ok=True)
    path = state.run_dir / runs.RUN_JSON
    resume = session.config.getoption("--xch-resume")
    info = runs.load_run(state.run_dir) if resume and path.exists() else {}
    if resume:
        runs.repair_results(state.run_dir)
    attempt = {"started_at": runs.utc_now(), "argv": _command_line(), "resume": bool(resume)}
    info.setdefault("run_id", state.run_id)
    info.setdefault("started_at", attempt["started_at"])
    info.setdefault("args", json.loads(os.environ.get("XCH_RUN_ARGS", "{}")))
    info["status"] = "running"
    info.pop("ended_at", None)
    info.setdefault("attempts", []).append(attempt)
    info["versions"] = {"xch": __version__, "python": platform.python_version(), "pytest": pytest.__version__,
                        "controller": f"{platform.system()} {platform.release()} {platform.machine()}"}
    try:
        info["targets"] = [t.public_dict() for t in state.selected()]
    except pytest.UsageError:
        info["targets"] = []
    atomic_write_json(path, info)
    if session.config.getoption("--product"):
        _record_product(session.config.getoption("--product"), state.run_dir)


def _record_product(product_path: str, run_dir: Path) -> None:
    """product.json for every run made with --product (the whitelist reads product identity from it):
    identity from the manifest, digests of the artifacts fetched into the cache."""
    from harness.artifacts import fetch_product
    from harness.product import load_product, write_product_json

    try:
        product = load_product(Path(product_path))
    except XchError as exc:
        raise pytest.UsageError(exc.message) from None
    try:
        digests = [f.record() for f in fetch_product(product)]
    except XchError as exc:  # the suites report unfetchable artifacts per target; identity is still recorded
        print(f"xch: artifacts not fetched yet: {exc.message}", file=sys.stderr)
        digests = []
    write_product_json(run_dir, product, digests)


def _command_line() -> list[str]:
    from_cli = os.environ.get("XCH_COMMAND_LINE")
    return json.loads(from_cli) if from_cli else list(sys.argv)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = _state(session.config)
    state.close()
    if state.run_dir is None or state.is_worker:
        return
    path = state.run_dir / runs.RUN_JSON
    info = runs.load_run(state.run_dir) if path.exists() else {"run_id": state.run_id}
    latest = runs.latest_records(runs.read_results(state.run_dir).records)
    info["ended_at"] = runs.utc_now()
    # pytest exit codes: 0/1 ran to the end, 2 interrupted, 3 internal error, 4 usage, 5 nothing collected
    info["status"] = {2: "interrupted", 3: "internal-error", 4: "usage-error"}.get(int(exitstatus), "finished")
    info["summary"] = runs.counts(latest)
    info["facts"] = runs.collect_facts(state.run_dir)
    if info.get("attempts"):
        info["attempts"][-1]["ended_at"] = info["ended_at"]
        info["attempts"][-1]["pytest_exit"] = int(exitstatus)
    runs.write_junit(state.run_dir, latest)
    atomic_write_json(path, info)
