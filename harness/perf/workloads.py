"""Product workloads: the `[[workloads]]` tables of product.toml, validated, and how one run is read.

    [[workloads]]
    name = "set-get"                          # letters, digits, . _ -; unique in the product
    command = "redis-benchmark -q -n 20000 -t set,get --csv"   # one run = one sample of each metric
    setup = "service redis-server start"      # optional, once per target before measuring
    teardown = ""                             # optional, once per target after measuring
    timeout = 600                             # seconds per run (default 600)
    sample_resources = true                   # sample /proc while the measured runs go (default true)

    [[workloads.metrics]]
    name = "set_rps"
    regex = '"SET","([0-9.]+)"'               # the first group (or the group named `value`) of the
    unit = "req/s"                            #   first match in stdout
    direction = "higher"                      # "higher" or "lower" is better

    [[workloads.metrics]]
    name = "bits_per_s"
    json_path = "end.sum_received.bits_per_second"   # dotted path into stdout parsed as JSON; a[0].b
    unit = "bit/s"
    direction = "higher"
    scale = 1e-9                              # optional multiplier applied to the value

    [[workloads.metrics]]
    name = "elapsed"
    elapsed = true                            # wall time of the command (controller side, includes
    unit = "s"                                #   one SSH round trip: use for runs of a second or more)
    direction = "lower"

Each metric has exactly one of `regex`, `json_path` or `elapsed = true`. Commands come from the
vendor's manifest and run on the target only (through the one place that frames commands,
harness.core.shell), never on the controller. Metric names become `workload.<workload>.<metric>`.
This module reads the raw TOML itself, so it does not depend on harness.product's schema.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.problems import COMMAND_CHARS, PATH_CHARS, TEXT_CHARS, Problems, shown, too_long
from harness.core.tomlfile import read_toml
from harness.perf.micro import MetricSpec

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # fullmatch
DIRECTIONS = ("higher", "lower")
DEFAULT_TIMEOUT = 600.0
_WORKLOAD_KEYS = ("name", "command", "setup", "teardown", "timeout", "sample_resources", "metrics", "description")
_METRIC_KEYS = ("name", "unit", "direction", "regex", "json_path", "elapsed", "scale", "description")
_PATH_PART = re.compile(r"([^\[\]]+)?((?:\[\d+\])*)")  # fullmatch


class ExtractError(AssertionError):
    """A workload's output did not contain a declared metric: the product's output is at fault."""


@dataclass(frozen=True)
class WorkloadMetric:
    name: str
    unit: str
    direction: str
    regex: str = ""
    json_path: str = ""
    elapsed: bool = False
    scale: float = 1.0
    description: str = ""

    def extract(self, stdout: str, elapsed: float) -> float:
        if self.elapsed:
            value: Any = elapsed
        elif self.regex:
            m = re.search(self.regex, stdout, re.MULTILINE)
            if not m:
                raise ExtractError(f"metric {self.name}: regex {self.regex!r} does not match the output: "
                                   f"{stdout.strip()[-300:]!r}")
            value = m.group("value") if "value" in m.re.groupindex else (m.group(1) if m.re.groups else m.group(0))
        else:
            value = json_path_get(_json_of(stdout, self.name), self.json_path, self.name)
        try:
            number = float(value) * self.scale
        except (TypeError, ValueError):
            raise ExtractError(f"metric {self.name}: {value!r} is not a number") from None
        if not math.isfinite(number):
            raise ExtractError(f"metric {self.name}: {value!r} is not a finite number")
        return number


@dataclass(frozen=True)
class Workload:
    name: str
    command: str
    metrics: tuple[WorkloadMetric, ...]
    setup: str = ""
    teardown: str = ""
    timeout: float = DEFAULT_TIMEOUT
    sample_resources: bool = True
    description: str = ""
    source: str = ""

    def metric_name(self, metric: WorkloadMetric) -> str:
        return f"workload.{self.name}.{metric.name}"

    def specs(self) -> list[MetricSpec]:
        return [MetricSpec(self.metric_name(m), m.unit, m.direction, m.description or f"{self.name}: {m.name}")
                for m in self.metrics]

    def params(self) -> dict[str, Any]:
        """What must match for a stored baseline to be comparable: the command and how it is read."""
        return {"workload": self.name, "command": self.command,
                "metrics": {m.name: m.regex or m.json_path or "elapsed" for m in self.metrics}}

    def extract_all(self, stdout: str, elapsed: float) -> dict[str, float]:
        return {self.metric_name(m): m.extract(stdout, elapsed) for m in self.metrics}


def _json_of(stdout: str, name: str) -> Any:
    start = min([i for i in (stdout.find("{"), stdout.find("[")) if i >= 0], default=-1)
    if start < 0:
        raise ExtractError(f"metric {name}: the output holds no JSON: {stdout.strip()[-300:]!r}")
    try:
        return json.JSONDecoder().raw_decode(stdout[start:])[0]
    except json.JSONDecodeError as exc:
        raise ExtractError(f"metric {name}: the output is not valid JSON: {exc}") from None


def json_path_get(data: Any, path: str, name: str = "") -> Any:
    """`a.b[0].c` (an optional leading `$.`) into parsed JSON."""
    node = data
    text = path[2:] if path.startswith("$.") else path
    for part in text.split("."):
        m = _PATH_PART.fullmatch(part)
        if not m:
            raise ExtractError(f"metric {name}: bad json_path part {part!r}")
        key, indexes = m.group(1), re.findall(r"\[(\d+)\]", m.group(2) or "")
        try:
            if key is not None:
                node = node[key]
            for index in indexes:
                node = node[int(index)]
        except (KeyError, IndexError, TypeError):
            raise ExtractError(f"metric {name}: json_path {path!r} not found (stopped at {part!r})") from None
    return node


# -- loading -----------------------------------------------------------------------------------

def manifest_path(path: str | Path) -> Path:
    p = Path(path)
    return p / "product.toml" if p.is_dir() else p


def load_workloads(path: str | Path) -> list[Workload]:
    """The workloads of a product folder or product.toml (none is an empty list)."""
    source = manifest_path(path)
    return parse_workloads(read_toml(source, "product manifest", missing="no such product manifest"), source)


def parse_workloads(data: dict[str, Any], source: Path | str, problems: Problems | None = None) -> list[Workload]:
    """Validate `data["workloads"]`; every problem is reported at once, naming file and field.

    With `problems` (the product manifest's collector) problems are added there and the valid
    workloads returned; without, an InputError lists them."""
    own = problems is None
    problems = Problems("workloads", source) if problems is None else problems
    out = _parse_workloads(data.get("workloads", []), source, problems)
    if own:
        problems.raise_if_any()
    return out


MAX_WORKLOAD_TIMEOUT = 7 * 86400.0


def _strings(table: dict, where: str, problems: Problems, limits: dict[str, int]) -> None:
    for key, limit in limits.items():
        if key not in table:
            continue
        if not isinstance(table[key], str):
            problems.add(where, f"field {key!r} must be a string")
        elif too_long(table[key], limit):
            problems.add(where, f"field {key!r} must be a string of {too_long(table[key], limit)}")


def _parse_workloads(raw: Any, source: Path | str, problems: Problems) -> list[Workload]:
    if not isinstance(raw, list) or not all(isinstance(w, dict) for w in raw):
        problems.add("", "workloads must be an array of tables ([[workloads]])")
        return []
    out: list[Workload] = []
    seen: set[str] = set()
    for i, table in enumerate(raw):
        before = len(problems)
        name = table.get("name")
        good_name = isinstance(name, str) and NAME_RE.fullmatch(name)
        where = f"workloads[{i}] ({name})" if good_name else f"workloads[{i}]"
        for key in table:
            if key not in _WORKLOAD_KEYS:
                problems.add(where, f"unknown field {shown(key)} (known: {', '.join(_WORKLOAD_KEYS)})")
        if not good_name:
            problems.add(where, f"field 'name' must be 1-64 letters, digits, '.', '_' or '-', got {shown(name)}")
        elif name in seen:
            problems.add(where, f"duplicate workload name {name!r}")
        else:
            seen.add(name)
        command = table.get("command")
        if not isinstance(command, str) or not command.strip():
            problems.add(where, "field 'command' must be a non-empty string (the command one run executes)")
        _strings(table, where, problems, {"command": COMMAND_CHARS, "setup": COMMAND_CHARS,
                                          "teardown": COMMAND_CHARS, "description": TEXT_CHARS})
        timeout = table.get("timeout", DEFAULT_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= MAX_WORKLOAD_TIMEOUT:
            problems.add(where, f"field 'timeout' must be a positive number of seconds up to "
                         f"{MAX_WORKLOAD_TIMEOUT:g}, got {shown(timeout)}")
        if not isinstance(table.get("sample_resources", True), bool):
            problems.add(where, "field 'sample_resources' must be true or false")
        metrics = _metrics(table.get("metrics"), where, problems)
        if len(problems) == before:
            out.append(Workload(name=name, command=command, metrics=tuple(metrics), setup=table.get("setup", ""),
                                teardown=table.get("teardown", ""), timeout=float(timeout),
                                sample_resources=table.get("sample_resources", True),
                                description=table.get("description", ""), source=str(source)))
    return out


def _metrics(raw: Any, where: str, problems: Problems) -> list[WorkloadMetric]:
    if not isinstance(raw, list) or not raw or not all(isinstance(m, dict) for m in raw):
        problems.add(where, "needs at least one [[workloads.metrics]] table (name, unit, direction, and "
                     "regex, json_path or elapsed = true)")
        return []
    out = []
    names: set[str] = set()
    for j, m in enumerate(raw):
        w = f"{where}.metrics[{j}]"
        bad = len(problems)
        for key in m:
            if key not in _METRIC_KEYS:
                problems.add(w, f"unknown field {shown(key)} (known: {', '.join(_METRIC_KEYS)})")
        name = m.get("name")
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            problems.add(w, f"field 'name' must be 1-64 letters, digits, '.', '_' or '-', got {shown(name)}")
        elif name in names:
            problems.add(w, f"duplicate metric name {name!r}")
        else:
            names.add(name)
        _strings(m, w, problems, {"unit": TEXT_CHARS, "description": TEXT_CHARS, "regex": PATH_CHARS,
                                  "json_path": PATH_CHARS})
        if not isinstance(m.get("unit"), str):
            problems.add(w, "field 'unit' must be a string such as \"req/s\" or \"s\"")
        if m.get("direction") not in DIRECTIONS:
            problems.add(w, f"field 'direction' must be \"higher\" or \"lower\" (which is better), "
                            f"got {shown(m.get('direction'))}")
        sources = [k for k in ("regex", "json_path") if k in m] + (["elapsed"] if m.get("elapsed") is True else [])
        if "elapsed" in m and not isinstance(m["elapsed"], bool):
            problems.add(w, "field 'elapsed' must be true or false")
        if len(sources) != 1:
            problems.add(w, f"needs exactly one of regex, json_path or elapsed = true, got {sources or 'none'}")
        if "regex" in m:
            if not isinstance(m["regex"], str):
                problems.add(w, "field 'regex' must be a string")
            else:
                try:
                    re.compile(m["regex"])
                except re.error as exc:
                    problems.add(w, f"field 'regex' is not a valid regular expression: {exc}")
        if "json_path" in m and (not isinstance(m["json_path"], str) or not m["json_path"].strip()):
            problems.add(w, "field 'json_path' must be a path such as \"end.sum_received.bits_per_second\"")
        scale = m.get("scale", 1.0)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale < math.inf:
            problems.add(w, f"field 'scale' must be a positive number, got {shown(scale)}")
        if len(problems) == bad:
            out.append(WorkloadMetric(name=name, unit=m["unit"], direction=m["direction"], regex=m.get("regex", ""),
                                      json_path=m.get("json_path", ""), elapsed=m.get("elapsed", False),
                                      scale=float(scale), description=m.get("description", "")))
    return out


@dataclass(frozen=True)
class ServiceConfig:
    """`[perf.service]` of product.toml: the commands the service-level checks run on the target.

        [perf.service]
        setup = "service redis-server start"   # optional: bring the service up first
        probe = "redis-cli ping"               # healthy = exit 0 (and expect_output found, if given)
        expect_output = "PONG"
        load = "redis-benchmark -q -n 200000"  # optional: run in the background while probing
        kill = "pkill -9 -x redis-server"      # optional: how to kill it (recovery is measured after it)
        restart = "service redis-server start" # optional: what brings it back when no supervisor does
        teardown = ""
    """

    probe: str
    expect_output: str = ""
    load: str = ""
    kill: str = ""
    restart: str = ""
    setup: str = ""
    teardown: str = ""


_SERVICE_KEYS = tuple(ServiceConfig.__dataclass_fields__)


def load_service_config(path: str | Path) -> ServiceConfig | None:
    """`[perf.service]` of a product (None when it declares none)."""
    source = manifest_path(path)
    return parse_service_config(read_toml(source, "product manifest", missing="no such product manifest"), source)


def parse_service_config(data: dict[str, Any], source: Path | str,
                         problems: Problems | None = None) -> ServiceConfig | None:
    """Validate `data["perf"]["service"]`; every problem is reported at once, naming file and field.

    With `problems` (the product manifest's collector) problems are added there; without, an
    InputError lists them."""
    own = problems is None
    problems = Problems("[perf.service] section", source) if problems is None else problems
    before = len(problems)
    config = _parse_service_config(data, problems)
    if own:
        problems.raise_if_any()
    return config if len(problems) == before else None


def _parse_service_config(data: dict[str, Any], problems: Problems) -> ServiceConfig | None:
    perf = data.get("perf")
    if perf is not None and not isinstance(perf, dict):
        problems.add("[perf]", "must be a table")
        return None
    table = (perf or {}).get("service")
    if table is None:
        return None
    where = "[perf.service]"
    if not isinstance(table, dict):
        problems.add(where, "must be a table")
        return None
    before = len(problems)
    for key, value in table.items():
        if key not in _SERVICE_KEYS:
            problems.add(f"{where}.{key}", f"unknown field (known: {', '.join(_SERVICE_KEYS)})")
        elif not isinstance(value, str):
            problems.add(f"{where}.{key}", f"expected a string (a command), got {shown(value)}")
        elif too_long(value, COMMAND_CHARS):
            problems.add(f"{where}.{key}", f"expected a command of {too_long(value, COMMAND_CHARS)}")
    if not isinstance(table.get("probe"), str) or not table.get("probe", "").strip():
        problems.add(f"{where}.probe", "missing; expected the health-probe command")
    if isinstance(table.get("expect_output"), str):
        try:
            re.compile(table["expect_output"])
        except re.error as exc:
            problems.add(f"{where}.expect_output", f"not a valid regular expression: {exc}")
    if len(problems) > before:
        return None
    return ServiceConfig(**{k: v for k, v in table.items() if k in _SERVICE_KEYS})
