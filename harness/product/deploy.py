"""Bring a product up on a target for the suites that measure it, and take it away afterwards.

The compat suite checks every lifecycle step one by one; the perf and migration suites need the
product already installed (and, for perf, started and healthy) so their checks measure the product
and not its installation. `xch certify` wraps each of their runs in `deployed(...)`:

    with deployed(conn, facts, product, start=True) as info:   # install, start, wait for health
        run the suite on that target
    # stopped, purged, leftover processes of the product killed, work folder removed

The same `harness.product.lifecycle.Driver` the compat suite uses does the work, so a product that passed
compat deploys the same way here. A failure raises DeployError naming the step and the target's
own output; the teardown runs whatever happened and never raises.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from harness import artifacts
from harness.core import shell
from harness.core.errors import InfraError
from harness.product import Product
from harness.product.lifecycle import WORK_PREFIX, Driver, Snapshot, tail


class DeployError(InfraError):
    """The product could not be brought up on a target, so the suites that need it cannot run there."""


def _driver(conn: Any, facts: dict[str, Any], product: Product) -> tuple[Driver, list[dict[str, Any]]]:
    arch = facts.get("arch", "")
    wanted = product.artifacts_for(arch)
    if not wanted:
        raise DeployError(f"{product.id} has no artifact for {arch or 'an unknown architecture'} ({conn.name})")
    fetched = [artifacts.fetch(a) for a in wanted]
    reports = [artifacts.inspect_cached(f) for f in fetched]
    driver = Driver(target=conn, facts=facts, product=product, fetched=fetched)
    driver.package_names = [r["package"]["name"] for r in reports]
    return driver, reports


@contextmanager
def deployed(conn: Any, facts: dict[str, Any], product: Product, start: bool = True) -> Iterator[dict[str, Any]]:
    """Install the product on `conn` (and with `start`, start it and wait for its health probe);
    yield what was done; on exit stop and remove it, whatever happened inside."""
    life = product.lifecycle
    driver, reports = _driver(conn, facts, product)
    info: dict[str, Any] = {"target": conn.name, "packages": driver.package_names, "started": False, "notes": []}
    if driver.installed():  # left by an interrupted run: start from a clean target, as compat does
        info["notes"].append("removed a leftover installation first: " + "; ".join(driver.cleanup(None, [])))
        driver, reports = _driver(conn, facts, product)
    before: Snapshot | None = None
    files: list[str] = []
    try:
        before = driver.snapshot()
        if start and life.has_service:
            busy = sorted(set(life.ports) & before.all_ports())
            if busy:
                raise DeployError(f"port(s) {busy} are already in use on {conn.name}'s network before the start "
                                  "(another target or service shares the network namespace?)")
        began = time.monotonic()
        result = driver.install()
        info["install_s"] = round(time.monotonic() - began, 2)
        files = driver.file_list(reports)
        if not result.ok:
            raise DeployError(f"install of {product.id} failed on {conn.name} (exit {result.rc}): "
                              f"{tail(result.stderr or result.stdout, 600)}")
        if start and life.has_service:
            info["notes"] += driver.accommodate_emulation()
            began = time.monotonic()
            result = driver.service("start", timeout=life.start_timeout)
            if not result.ok:
                raise DeployError(f"{product.id} did not start on {conn.name} (exit {result.rc}): "
                                  f"{tail(result.stdout + result.stderr, 600)}")
            health = driver.health()
            if not health.get("ok"):
                raise DeployError(f"{product.id} started on {conn.name} but its health probe ({health.get('how')}) "
                                  f"did not pass: {health.get('error') or 'timed out'}")
            info["started"] = True
            info["start_s"] = round(time.monotonic() - began, 2)
        yield info
    finally:
        try:
            info["teardown"] = driver.cleanup(before, files)
        except Exception as exc:  # teardown is best effort and must not hide the suite's own outcome
            info["teardown"] = [f"teardown failed: {exc}"]


def remove(conn: Any, facts: dict[str, Any], product: Product) -> list[str]:
    """Stop and uninstall the product if it is installed, and remove the product's work folders, as an
    interrupted run may have left them; returns what was done."""
    driver, _ = _driver(conn, facts, product)
    done = driver.cleanup(None, [])
    stale = conn.run(f"ls -d {shell.quote(WORK_PREFIX + product.id)}.* 2>/dev/null", timeout=30).stdout.split()
    if stale:
        conn.run(shell.command("rm", "-rf", *stale), timeout=120)
        done.append(f"removed {len(stale)} work folder(s) of an earlier run")
    return done
