"""Service-level measures from the programme plan: probe response time under load, availability,
recovery after a kill. Their limits are ordinary metric criteria (service.probe.p99_s <= 5 s,
service.availability >= 99.99 %, service.recovery_s <= 15 min by default; see criteria.py).

A probe is the product's health command run on the target (under `timeout`); its response time
is measured by the harness, so it includes one SSH round trip (about a millisecond on a LAN) and
the start of the probe command, which is what a monitoring system would also see. Availability
is judged on the Clopper-Pearson interval of the success ratio, not the observed ratio: 60
successful probes cannot show 99.99 %, and the verdict says "inconclusive" rather than pass.
"""

from __future__ import annotations

import math
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.core import shell
from harness.core.errors import InfraError
from harness.perf import stats
from harness.perf.workloads import ServiceConfig


@dataclass(frozen=True)
class Probe:
    ok: bool
    elapsed: float
    at: float  # seconds since the window started
    detail: str = ""


def probe_command(cfg: ServiceConfig, timeout_s: float) -> str:
    return f"timeout {max(1, math.ceil(timeout_s))} sh -c {shell.quote(cfg.probe)}"


def probe_once(conn: Any, cfg: ServiceConfig, timeout_s: float, started: float,
               clock: Callable[[], float] = time.monotonic) -> Probe:
    begin = clock()
    r = conn.run(probe_command(cfg, timeout_s), timeout=timeout_s + 30)
    elapsed = clock() - begin
    ok = r.rc == 0 and not r.timed_out
    detail = ""
    if ok and cfg.expect_output and not re.search(cfg.expect_output, r.stdout, re.MULTILINE):
        ok, detail = False, f"output lacks {cfg.expect_output!r}"
    elif not ok:
        detail = "timed out" if (r.timed_out or r.rc == 124) else f"exit {r.rc}"
    if elapsed > timeout_s:
        ok, detail = False, detail or f"slower than {timeout_s:g}s"
    return Probe(ok=ok, elapsed=elapsed, at=begin - started, detail=detail)


def probe_window(conn: Any, cfg: ServiceConfig, window_s: float, interval_s: float, timeout_s: float,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> list[Probe]:
    """Probe every `interval_s` for `window_s` seconds (a slow probe delays the next one)."""
    started = clock()
    probes: list[Probe] = []
    next_at = started
    while clock() - started < window_s:
        probes.append(probe_once(conn, cfg, timeout_s, started, clock))
        next_at += interval_s
        pause = next_at - clock()
        if pause > 0:
            sleep(pause)
    return probes


class Background:
    """A command kept running on the target (restarted when it ends) until stop() kills its tree."""

    def __init__(self, conn: Any, command: str) -> None:
        self.conn = conn
        self.command = command
        self.pidfile = f"/tmp/xch-bg-{secrets.token_hex(4)}.pid"
        self.logfile = self.pidfile[:-4] + ".log"

    def start(self) -> None:
        loop = f"while :; do sh -c {shell.quote(self.command)}; sleep 0.1; done"
        self.conn.run(f"( {loop} ) > {shell.quote(self.logfile)} 2>&1 & echo $! > {shell.quote(self.pidfile)}",
                      timeout=30).check()

    def stop(self) -> str:
        self.conn.run(shell.kill_tree_command(self.pidfile), timeout=60)
        tail = self.conn.run(f"tail -c 2000 {shell.quote(self.logfile)} 2>/dev/null; "
                             f"rm -f {shell.quote(self.logfile)} {shell.quote(self.pidfile)}", timeout=30).stdout
        return tail


def probe_metrics(probes: list[Probe], plan_bootstrap: int = stats.DEFAULT_BOOTSTRAP,
                  seed: int = stats.DEFAULT_SEED, under_load: bool = True) -> list[dict[str, Any]]:
    """Records for p50/p95/p99 response time and availability (contract shape, no baseline)."""
    times = [p.elapsed for p in probes]
    if not times:
        raise InfraError("no probe ran in the window: raise [service] window_s")
    summary = stats.summarize(times)
    context = "under load" if under_load else "idle"
    base = {"unit": "s", "direction": "lower", "kind": "service", "samples": [round(t, 6) for t in times],
            "median": summary.median, "iqr": summary.iqr, "cv": summary.cv, "min": summary.min, "max": summary.max,
            "n": summary.n, "repeated": False, "baseline": None}
    out = []
    for q in (50, 95, 99):
        out.append({**base, "name": f"service.probe.p{q}_s", "value": stats.percentile(times, q),
                    "value_ci": list(stats.bootstrap_ci(times, q, n_boot=plan_bootstrap, seed=seed)),
                    "description": f"health-probe response time {context}, {q}th percentile of {len(times)} probes"})
    good = sum(p.ok for p in probes)
    low, high = stats.availability_bounds(good, len(probes))
    flags = stats.summarize([1.0 if p.ok else 0.0 for p in probes])
    failures = [{"at_s": round(p.at, 3), "detail": p.detail, "elapsed_s": round(p.elapsed, 3)} for p in probes if not p.ok]
    out.append({"name": "service.availability", "unit": "ratio", "direction": "higher", "kind": "service",
                "samples": flags.samples, "median": flags.median, "iqr": flags.iqr, "cv": flags.cv, "min": flags.min,
                "max": flags.max, "n": flags.n, "value": good / len(probes),
                "value_ci": [low, high], "successes": good, "probes": len(probes), "failures": failures[:50],
                "repeated": False, "baseline": None,
                "description": f"share of healthy probes {context} (95 % Clopper-Pearson interval in value_ci)"})
    return out


def measure_recovery(conn: Any, cfg: ServiceConfig, limit_s: float, poll_s: float, timeout_s: float,
                     clock: Callable[[], float] = time.monotonic,
                     sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Kill the service (cfg.kill), run cfg.restart if given, and time until the probe is healthy."""
    if not cfg.kill:
        raise ValueError("no kill command")
    started = clock()
    first = probe_once(conn, cfg, timeout_s, started, clock)
    if not first.ok:
        raise InfraError(f"the service is not healthy before the kill ({first.detail}): recovery not measured")
    kill = conn.run(cfg.kill, timeout=60)
    killed_at = clock()
    restart_rc = None
    if cfg.restart:
        restart_rc = conn.run(cfg.restart, timeout=max(60.0, limit_s)).rc
    polls = 0
    recovered = None
    while clock() - killed_at < limit_s:
        probe = probe_once(conn, cfg, timeout_s, started, clock)
        polls += 1
        if probe.ok:
            recovered = clock() - killed_at
            break
        sleep(poll_s)
    waited = clock() - killed_at
    value = recovered if recovered is not None else waited
    return {"name": "service.recovery_s", "unit": "s", "direction": "lower", "kind": "service",
            "samples": [round(value, 3)], "median": value, "iqr": 0.0, "cv": 0.0, "min": value, "max": value, "n": 1,
            "value": value, "value_ci": [value, value] if recovered is not None else [value, None],  # None: unbounded
            "recovered": recovered is not None, "polls": polls, "kill_rc": kill.rc, "restart_rc": restart_rc,
            "repeated": False, "baseline": None,
            "description": "seconds from kill to the first healthy probe" + (
                " (restarted by the manifest's restart command)" if cfg.restart else " (restarted by its supervisor)")
            + ("" if recovered is not None else f"; not recovered within {limit_s:g}s")}
