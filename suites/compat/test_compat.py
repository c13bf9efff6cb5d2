"""Compatibility checks of one product on one target, in lifecycle order.

The items follow what certification labs test for software products (the Kunpeng compatibility
tester's items, oec-hardware's): the platform is declared, the binaries fit the machine and its
glibc, dependencies resolve, install, libraries load, start, health, ports, functional smoke
tests, restart, kill -9 recovery, stop, back to idle, uninstall, no residue. One optional check
(COMPAT-RPATH-001, unsafe or stale RPATH/RUNPATH) fails without making the product incompatible:
it makes the verdict conditional.

Outcomes: a check fails (AssertionError) when the product is at fault and its message names the
cause; it errors when the harness or target is at fault; it is skipped, naming the failed check,
when a step it needs did not succeed. Checks that can still run after a failure do run: a service
that never becomes healthy is still stopped, uninstalled and checked for residue.

Recovery (COMPAT-RECOVERY-001), defined for machines with and without a supervisor: the main
process gets SIGKILL; when systemd manages the target it gets up to 60 s to bring the service
back on its own; otherwise (and if it did not) the lifecycle's own restart path runs once (the
declared restart command, systemctl restart, or /etc/init.d/<service> restart), as an operator or
a watchdog would. Recovered means health passes again with a new main process; the recovery time
runs from the kill to the passing probe and must stay within lifecycle.recovery_limit (default 900 s).
"""

from __future__ import annotations

import time

import pytest

from harness import artifacts
from harness.core import arch as arches
from harness.core import shell
from harness.core.errors import InfraError, InputError
from harness.product.lifecycle import describe_proc, tail
from harness.product.lifecycle.unmet import resolution_failure, unmet_dependencies

MANDATORY = "mandatory"
OPTIONAL = "optional"


def _related(paths: list[str], listed: list[str], driver) -> list[str]:
    """New paths that belong to the product: under one of its own folders, or named after it.

    Other engineers and services write into the same machine (on the lab, into the same chroot);
    a new /etc/hosts is not the product's residue, a new /var/lib/redis/dump.rdb is.
    """
    shared = {"/", "/etc", "/opt", "/srv", "/usr", "/usr/local", "/var", "/var/lib", "/var/log", "/var/www",
              "/usr/share", "/usr/lib", "/usr/bin", "/usr/sbin", "/run", "/tmp", "/var/tmp", "/var/cache"}
    folders = {p for p in listed if p not in shared}
    life = driver.product.lifecycle
    names = {n.lower() for n in [*driver.package_names, life.service, life.process, driver.product.id] if n and len(n) >= 3}
    result = []
    for path in paths:
        parents = {path.rsplit("/", i)[0] for i in range(1, path.count("/"))}
        if parents & folders or any(n in path.lower() for n in names):
            result.append(path)
    return result


@pytest.mark.check("COMPAT-PLATFORM-001", level=MANDATORY)
def test_platform_declared(target, facts, state, compat_product, evidence):
    """The target's platform is recorded and is one the vendor declares as supported."""
    with state.step("platform"):
        platform = {k: facts.get(k) for k in ("arch", "os_id", "os_name", "os_version", "glibc", "cpu_vendor",
                                             "cpu_model", "kernel", "emulation")}
        evidence["platform"] = platform
        evidence["declared"] = [p.label() for p in compat_product.platforms]
        missing = [k for k in ("arch", "os_id", "os_version", "glibc") if not facts.get(k)]
        assert not missing, f"platform facts missing on {target.name}: {', '.join(missing)}"
        match = [p.label() for p in compat_product.platforms if p.matches(facts)]
        assert match, (f"{target.name} is {facts['arch']} {facts['os_id']} {facts['os_version']}, which the product "
                       f"does not declare (declared: {', '.join(evidence['declared'])})")
        evidence["matched"] = match[0]


@pytest.mark.check("COMPAT-ARTIFACT-001", level=MANDATORY)
def test_artifacts_fetched(target, facts, state, compat_product, evidence):
    """Artifacts exist for the target's architecture; each is fetched and its sha256 and SM3 recorded."""
    with state.step("artifacts"):
        wanted = compat_product.artifacts_for(facts["arch"])
        assert wanted, (f"no artifact for {facts['arch']} (artifacts are given for "
                        f"{', '.join(sorted({a.arch for a in compat_product.artifacts}))})")
        fetched = []
        for artifact in wanted:
            try:
                fetched.append(artifacts.fetch(artifact))
            except InputError as exc:  # the manifest names a package or file that does not exist
                raise AssertionError(f"artifact {artifact.describe()} cannot be fetched: {exc.message}") from None
        state.driver.fetched = fetched
        try:
            state.reports = [artifacts.inspect_cached(f) for f in fetched]
        except artifacts.ArchiveError as exc:  # damaged, truncated or a decompression bomb
            raise AssertionError(f"artifact cannot be read: {exc.message}") from None
        state.driver.package_names = [r["package"]["name"] for r in state.reports]
        evidence["artifacts"] = [{**f.record(), "package": r["package"], "summary": r["summary"]}
                                 for f, r in zip(fetched, state.reports, strict=True)]


@pytest.mark.check("COMPAT-ARCH-001", level=MANDATORY)
def test_architecture_matches(target, facts, state, evidence):
    """Every ELF file (and every jar/wheel's native code) is built for the target's machine."""
    state.need("artifacts")
    with state.step("arch"):
        arch = facts["arch"]
        want_deb = arches.debian_arch(arch)
        wrong_pkg = [f"{r['package']['name']} ({r['package']['architecture']})" for r in state.reports
                     if r["type"] == "deb" and r["package"]["architecture"] not in (want_deb, "all")]
        offending = [{**bad, "package": r["package"]["name"]} for r in state.reports
                     for bad in artifacts.arch_mismatches(r, arch)]
        evidence["expected_machine"] = arch  # ELF machines are named in the canonical arch spelling
        evidence["elf_checked"] = sum(len(artifacts.all_elves(r)) for r in state.reports)
        evidence["offending"] = offending
        problems = []
        if offending:
            shown = ", ".join(f"{o['path']} ({o['machine']})" for o in offending[:20])
            more = f" and {len(offending) - 20} more" if len(offending) > 20 else ""
            problems.append(f"{len(offending)} file(s) not built for {arch}: {shown}{more}")
        if wrong_pkg:
            problems.append(f"package architecture does not match {want_deb}: {', '.join(wrong_pkg)}")
        assert not problems, "; ".join(problems)


@pytest.mark.check("COMPAT-GLIBC-001", level=MANDATORY)
def test_glibc_floor(target, facts, state, evidence):
    """No binary needs a newer GLIBC_x.y than the target's glibc."""
    state.need("artifacts")
    with state.step("glibc"):
        have = facts.get("glibc", "")
        if not have:
            raise InfraError(f"glibc version of {target.name} unknown")
        floors = [e["glibc"] for r in state.reports for e in artifacts.all_elves(r) if e.get("glibc")]
        evidence["target_glibc"] = have
        evidence["product_glibc_floor"] = max(floors, key=artifacts.glibc_key) if floors else ""
        offenders = [o for r in state.reports for o in artifacts.glibc_offenders(r, facts["arch"], have)]
        evidence["offending"] = offenders
        assert not offenders, (f"{len(offenders)} file(s) need a newer glibc than {target.name}'s {have}: "
                               + ", ".join(f"{o['path']} needs GLIBC_{o['needs']}" for o in offenders[:20]))


@pytest.mark.check("COMPAT-DEPS-001", level=MANDATORY)
def test_dependencies_resolve(target, facts, state, evidence):
    """The target's package manager can resolve every dependency (a simulated install)."""
    state.need("artifacts", "arch")
    with state.step("deps"):
        result = state.driver.simulate()
        if result is None:
            state.not_applicable("deps", f"{state.driver.kind} artifacts have no package-manager dependencies")
        if result.timed_out:
            raise InfraError(f"dependency resolution timed out on {target.name}")
        planned = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("Inst ")]
        evidence["would_install"] = planned
        evidence["output"] = tail(result.stdout + result.stderr, 3000)
        if result.rc != 0:
            evidence["unmet"] = unmet_dependencies(f"{result.stdout}\n{result.stderr}")
            # raised, not asserted: pytest's explanation of `assert result.rc == 0` would append the
            # RunResult (and with it apt's last line) to the reason
            raise AssertionError(f"dependencies do not resolve on {target.name}: "
                                 f"{resolution_failure(result.stdout, result.stderr)}")


@pytest.mark.check("COMPAT-INSTALL-001", level=MANDATORY)
def test_install(target, state, evidence):
    """The product installs with the target's package manager."""
    state.need("artifacts", "arch", "deps")
    with state.step("install"):
        driver = state.driver
        state.before_install = driver.snapshot()
        state.fs_before = driver.filesystem()
        started = time.monotonic()
        result = driver.install()
        evidence["install_s"] = round(time.monotonic() - started, 2)
        evidence["output"] = tail(result.stdout + result.stderr, 3000)
        if result.timed_out:
            raise InfraError(f"install did not finish within {driver.product.lifecycle.install_timeout:g}s")
        state.files = driver.file_list(state.reports)
        installed = driver.installed()
        evidence["packages"] = installed
        evidence["files"] = len(state.files)
        assert result.rc == 0, f"install failed (exit {result.rc}): {tail(result.stderr or result.stdout, 800)}"
        missing = sorted(set(driver.package_names) - set(installed)) if driver.kind != "tar.gz" else []
        assert not missing, f"not installed after a successful install command: {', '.join(missing)}"
        _stop_if_started_by_install(driver, state, evidence)


def _stop_if_started_by_install(driver, state, evidence) -> None:
    """On a systemd server, Debian's packages start their service on install (the chroot lab forbids it
    with policy-rc.d). COMPAT-START-001 tests the lifecycle's own start, so such a service is stopped
    here, and the evidence says the package started it."""
    life = driver.product.lifecycle
    if not (life.has_service and driver.systemd):
        return
    started = driver.main_pid(driver.snapshot(), state.before_install)
    evidence["started_by_install"] = started is not None
    if started is not None:
        result = driver.service("stop", timeout=life.stop_timeout)
        evidence["stopped_after_install"] = {"pid": started, "rc": result.rc}


@pytest.mark.check("COMPAT-LIBS-001", level=MANDATORY)
def test_needed_libraries_resolve(target, state, evidence):
    """Every NEEDED library (and symbol version) of every installed ELF file resolves on the target."""
    state.need("install")
    with state.step("libs"):
        driver = state.driver
        prefix = driver.install_dir().rstrip("/") if driver.kind == "tar.gz" else ""
        installed = set(state.files)
        elves = sorted({prefix + e["path"] for r in state.reports for e in r["elf"]
                        if e.get("needed") and prefix + e["path"] in installed})
        evidence["checked"] = len(elves)
        if not elves:
            state.not_applicable("libs", "the product installs no dynamically linked ELF files")
        script = "for f in " + " ".join(shell.quote(p) for p in elves) + \
                 "; do printf '==%s\\n' \"$f\"; ldd \"$f\" 2>&1; done"
        result = driver.run(script, timeout=600)
        problems, current = [], ""
        for line in result.stdout.splitlines():
            if line.startswith("=="):
                current = line[2:]
            elif "not found" in line:
                problems.append(f"{current}: {line.strip()}")
        evidence["unresolved"] = problems
        assert not problems, f"{len(problems)} unresolved: " + "; ".join(problems[:15])


@pytest.mark.check("COMPAT-RPATH-001", level=OPTIONAL)
def test_rpath_entries_safe(target, state, evidence):
    """No installed ELF file's RPATH/RUNPATH entry is empty, relative, a build location or missing on the target.

    The first three are judged from the package alone (artifacts.rpath_findings); whether the
    absolute folders (with $ORIGIN expanded) exist after the install takes one command on the target.
    """
    state.need("install")
    with state.step("rpath"):
        driver = state.driver
        prefix = driver.install_dir().rstrip("/") if driver.kind == "tar.gz" else ""
        installed = set(state.files)
        checked = [{"path": prefix + e["path"], "rpath": e["rpath"], "runpath": e["runpath"]}
                   for r in state.reports for e in r["elf"]
                   if (e.get("rpath") or e.get("runpath")) and prefix + e["path"] in installed]
        evidence["checked"] = checked
        if not checked:
            state.not_applicable("rpath", "no installed ELF file has an RPATH or RUNPATH")
        mine = {c["path"] for c in checked}
        findings = [f for r in state.reports for f in artifacts.rpath_findings(r, prefix) if f["path"] in mine]
        flagged = {(f["path"], f["tag"], f["entry"]) for f in findings}
        wanted = [d for r in state.reports for d in artifacts.rpath_search_dirs(r, prefix)
                  if d["path"] in mine and (d["path"], d["tag"], d["entry"]) not in flagged]
        folders = sorted({d["dir"] for d in wanted})
        evidence["folders_checked"] = len(folders)
        if folders:
            script = ("for d in " + " ".join(shell.quote(f) for f in folders) +
                      "; do if [ -d \"$d\" ]; then echo y; else echo n; fi; done")
            result = driver.run(script, timeout=120)
            answers = result.stdout.split()
            if result.timed_out or len(answers) != len(folders) or not set(answers) <= {"y", "n"}:
                raise InfraError(f"folder existence test on {target.name} answered {len(answers)} of "
                                 f"{len(folders)} folders: {tail(result.stderr or result.stdout, 300)}")
            missing = {f for f, a in zip(folders, answers, strict=True) if a == "n"}
            findings += [{"path": d["path"], "tag": d["tag"], "entry": d["entry"], "kind": "stale",
                          "reason": f"stale: not on the target after install ({d['dir']})"}
                         for d in wanted if d["dir"] in missing]
        findings.sort(key=lambda f: (f["path"], f["tag"]))
        evidence["findings"] = findings
        shown = "; ".join(f"{f['path']} {f['tag']} {f['entry']!r}: {f['reason']}" for f in findings[:5])
        more = f"; and {len(findings) - 5} more" if len(findings) > 5 else ""
        entries = "entry" if len(findings) == 1 else "entries"
        assert not findings, f"{len(findings)} unsafe or stale RPATH/RUNPATH {entries}: {shown}{more}"


@pytest.mark.check("COMPAT-START-001", level=MANDATORY)
def test_service_starts(target, state, compat_product, evidence):
    """The service starts with its lifecycle command and leaves a running process."""
    state.need("install")
    life = compat_product.lifecycle
    if not life.has_service:
        pytest.skip("the product declares no service")
    with state.step("start"):
        driver = state.driver
        before = driver.snapshot()
        busy = sorted(set(life.ports) & before.all_ports())
        if busy:
            raise InfraError(f"declared port(s) {busy} are already in use on {target.name}'s network before the "
                             "start (another target or service shares the network namespace?)")
        state.before_start = before
        accommodations = driver.accommodate_emulation()
        if accommodations:
            evidence["emulation_accommodations"] = accommodations
        evidence["command"] = driver.service_command("start")
        evidence["supervisor"] = "systemd" if driver.systemd else "init.d" if not life.start else "manifest commands"
        result = driver.service("start", timeout=life.start_timeout)
        evidence["output"] = tail(result.stdout + result.stderr)
        if result.timed_out:
            raise AssertionError(f"start command did not return within {life.start_timeout:g}s")
        assert result.rc == 0, f"start command exited {result.rc}: {tail(result.stdout + result.stderr, 600)}"
        deadline = time.monotonic() + min(30.0, life.start_timeout)
        while True:
            snap = driver.snapshot()
            procs = snap.new_procs(before)
            if procs or time.monotonic() >= deadline:
                break
            time.sleep(1.0)
        evidence["processes"] = [describe_proc(p) for p in procs]
        assert procs, "start command succeeded but no new process is running on the target"


@pytest.mark.check("COMPAT-HEALTH-001", level=MANDATORY)
def test_health_probe(target, state, compat_product, evidence):
    """The health probe passes within its timeout after the start."""
    state.need("start")
    with state.step("health"):
        result = state.driver.health()
        evidence.update(result)
        limit = compat_product.lifecycle.health.timeout if compat_product.lifecycle.health else 60.0
        assert result["ok"], f"not healthy within {limit:g}s ({result['how']}): {result.get('error', '')}"


@pytest.mark.check("COMPAT-PORTS-001", level=MANDATORY)
def test_declared_ports_listen(target, state, compat_product, evidence):
    """Every declared port is listened on by a process of this product on this target."""
    state.need("start")
    ports = compat_product.lifecycle.ports
    if not ports:
        pytest.skip("the product declares no ports")
    with state.step("ports"):
        snap = state.driver.snapshot()
        new = {p["pid"] for p in snap.new_procs(state.before_start)}
        listening = {sock["port"]: sock["pid"] for sock in snap.data["listen"] if sock.get("pid") in new}
        evidence["listening"] = sorted(listening)
        others = sorted({sock["port"] for sock in snap.data["listen"] if sock.get("pid") not in new} & set(ports))
        missing = [p for p in ports if p not in listening]
        evidence["undeclared"] = sorted(set(listening) - set(ports))
        assert not missing, (f"declared port(s) {missing} not listened on by the product"
                             + (f" (held by something else: {others})" if others else ""))


@pytest.mark.check("COMPAT-SMOKE-001", level=MANDATORY)
def test_functional_smoke(target, state, compat_product, evidence):
    """The vendor's functional smoke tests pass on the installed (and, for a service, healthy) product."""
    state.need("install")
    if compat_product.lifecycle.has_service:
        state.need("health")
    if not compat_product.smoke:
        pytest.skip("the product declares no smoke tests")
    with state.step("smoke"):
        results, failures = [], []
        for index, test in enumerate(compat_product.smoke):
            r = state.driver.run(state.driver.smoke_command(test, index), timeout=test.timeout)
            ok = not r.timed_out and r.rc == test.expect_rc and test.expect_output in r.stdout
            results.append({"name": test.name, "rc": r.rc, "ok": ok, "elapsed_s": round(r.elapsed, 3),
                            "output": tail(r.stdout + r.stderr, 400)})
            if not ok:
                why = "timed out" if r.timed_out else f"exit {r.rc} (expected {test.expect_rc})"
                if r.rc == test.expect_rc and not r.timed_out:
                    why = f"output lacks {test.expect_output!r}"
                failures.append(f"{test.name}: {why}: {tail(r.stdout + r.stderr, 200)!r}")
        evidence["tests"] = results
        assert not failures, f"{len(failures)} of {len(results)} smoke test(s) failed: " + "; ".join(failures)


@pytest.mark.check("COMPAT-RESTART-001", level=MANDATORY)
def test_restart(target, state, compat_product, evidence):
    """A restart gives a healthy service with a new main process."""
    state.need("health")
    with state.step("restart"):
        driver, life = state.driver, compat_product.lifecycle
        old = driver.main_pid(driver.snapshot(), state.before_start)
        evidence["command"] = driver.service_command("restart")
        result = driver.service("restart", timeout=life.start_timeout + life.stop_timeout)
        evidence["output"] = tail(result.stdout + result.stderr)
        assert result.rc == 0 and not result.timed_out, \
            f"restart exited {result.rc}: {tail(result.stdout + result.stderr, 600)}"
        health = driver.health()
        evidence["health"] = health
        assert health["ok"], f"not healthy after restart: {health.get('error', '')}"
        new = driver.main_pid(driver.snapshot(), state.before_start)
        evidence["main_pid"] = {"before": old, "after": new}
        assert new is not None, f"no main process named {life.process!r} after the restart"
        assert old is None or new != old, f"main process {old} was not replaced by the restart"


@pytest.mark.check("COMPAT-RECOVERY-001", level=MANDATORY)
def test_kill9_recovery(target, state, compat_product, evidence):
    """After kill -9 of the main process the service recovers (see the module docstring) within the limit."""
    state.need("health", "restart")
    with state.step("recovery"):
        driver, life = state.driver, compat_product.lifecycle
        snap = driver.snapshot()
        victim = driver.main_pid(snap, state.before_start)
        assert victim is not None, f"no main process named {life.process!r} to kill"
        evidence["killed"] = next(describe_proc(p) for p in snap.procs if p["pid"] == victim)
        killed_at = time.monotonic()
        driver.kill9([victim])
        gone = driver.probe("wait-gone", 30, victim, timeout=90)
        if not gone["ok"]:
            raise InfraError(f"pid {victim} survived kill -9 for 30s")
        how, healthy = "", {"ok": False}
        if driver.systemd:
            healthy = driver.health(timeout=min(60.0, life.recovery_limit))
            how = "supervisor (systemd)" if healthy["ok"] else ""
        if not healthy["ok"]:
            result = driver.service("restart", timeout=life.start_timeout + life.stop_timeout)
            evidence["restart_output"] = tail(result.stdout + result.stderr)
            remaining = max(1.0, life.recovery_limit - (time.monotonic() - killed_at))
            healthy = driver.health(timeout=min(remaining, life.health.timeout if life.health else 60.0))
            how = "lifecycle restart"
        recovery = round(time.monotonic() - killed_at, 3)
        new = driver.main_pid(driver.snapshot(), state.before_start)
        evidence.update({"recovered_by": how, "recovery_time_s": recovery, "limit_s": life.recovery_limit,
                         "new_main_pid": new})
        assert healthy["ok"], f"not healthy again after kill -9 of pid {victim} ({how}): {healthy.get('error', '')}"
        assert new is not None and new != victim, f"no new main process after kill -9 of pid {victim}"
        assert recovery <= life.recovery_limit, f"recovered in {recovery:.1f}s, over the {life.recovery_limit:g}s limit"


@pytest.mark.check("COMPAT-STOP-001", level=MANDATORY)
def test_stop(target, state, compat_product, evidence):
    """The stop command ends every process of the product and closes its ports within stop_timeout."""
    state.need("start")
    with state.step("stop"):
        driver, life = state.driver, compat_product.lifecycle
        running = driver.snapshot().new_procs(state.before_start)
        evidence["command"] = driver.service_command("stop")
        started = time.monotonic()
        result = driver.service("stop", timeout=life.stop_timeout)
        evidence["output"] = tail(result.stdout + result.stderr)
        remaining = max(1.0, life.stop_timeout - (time.monotonic() - started))
        gone = driver.probe("wait-gone", remaining, *[p["pid"] for p in running], timeout=remaining + 60) \
            if running else {"ok": True, "alive": []}
        closed = driver.probe("wait-closed", 5, *life.ports, timeout=90) if life.ports else {"ok": True, "held": []}
        evidence["stop_s"] = round(time.monotonic() - started, 3)
        left = [describe_proc(p) for p in driver.snapshot().new_procs(state.before_start)]
        evidence["left_running"] = left
        assert result.rc == 0 and not result.timed_out, \
            f"stop command exited {result.rc}: {tail(result.stdout + result.stderr, 600)}"
        assert gone["ok"] and not left, f"still running after stop: {'; '.join(left) or gone.get('alive')}"
        assert closed["ok"], f"port(s) {closed['held']} still listening after stop"


@pytest.mark.check("COMPAT-IDLE-001", level=MANDATORY)
def test_back_to_idle(target, state, evidence):
    """Resources after the stop match the idle state before the start: processes, ports, CPU, memory."""
    state.need("start")
    state.need("stop", attempted=True)
    with state.step("idle"):
        driver, before = state.driver, state.before_start
        after = driver.snapshot()
        extra = after.new_procs(before)
        ports = sorted(after.owned_ports() - before.owned_ports())
        elapsed = max(0.001, after.data["time"] - before.data["time"])
        cpu_s = sum(p["cpu_ticks"] for p in extra) / after.data["clk_tck"]
        mem_before = before.data["mem_kb"].get("MemAvailable", 0)
        mem_after = after.data["mem_kb"].get("MemAvailable", 0)
        evidence.update({
            "processes_before": len(before.procs), "processes_after": len(after.procs),
            "extra_processes": [describe_proc(p) for p in extra], "extra_ports": ports,
            "extra_cpu_s": round(cpu_s, 3), "extra_rss_kb": sum(p["rss_kb"] for p in extra),
            "mem_available_kb": {"before_start": mem_before, "after_stop": mem_after,
                                 "delta": mem_after - mem_before},
            "loadavg": {"before_start": before.data["loadavg"], "after_stop": after.data["loadavg"]},
            "window_s": round(elapsed, 1),
        })
        problems = []
        if extra:
            problems.append(f"{len(extra)} process(es) left running: " + "; ".join(describe_proc(p) for p in extra[:10]))
        if ports:
            problems.append(f"port(s) still listening: {ports}")
        assert not problems, "not back to idle after stop: " + "; ".join(problems)


@pytest.mark.check("COMPAT-UNINSTALL-001", level=MANDATORY)
def test_uninstall(target, state, evidence):
    """The product uninstalls (purges) with the target's package manager."""
    state.need("install")
    with state.step("uninstall"):
        driver = state.driver
        started = time.monotonic()
        result = driver.uninstall()
        evidence["uninstall_s"] = round(time.monotonic() - started, 2)
        evidence["output"] = tail(result.stdout + result.stderr, 3000)
        if result.timed_out:
            raise InfraError("uninstall timed out")
        assert result.rc == 0, f"uninstall failed (exit {result.rc}): {tail(result.stderr or result.stdout, 800)}"
        still = driver.installed()
        assert not still, f"still installed after uninstall: {', '.join(still)}"


@pytest.mark.check("COMPAT-RESIDUE-001", level=MANDATORY)
def test_no_residue(target, state, compat_product, evidence):
    """Nothing is left after uninstall: the product's files, new files nobody owns, processes, ports, users."""
    state.need("uninstall")
    with state.step("residue"):
        driver, before = state.driver, state.before_install
        listed = state.files
        exists = driver.run(
            "for f in " + " ".join(shell.quote(p) for p in listed) +
            "; do if [ -d \"$f\" ] && [ ! -L \"$f\" ]; then printf 'd %s\\n' \"$f\"; "
            "elif [ -e \"$f\" ] || [ -L \"$f\" ]; then printf 'f %s\\n' \"$f\"; fi; done",
            timeout=300).stdout.splitlines() if listed else []
        remaining = [line[2:] for line in exists if line[:2] in ("d ", "f ")]
        new_paths = _related(sorted(driver.filesystem() - (state.fs_before or set())), listed, state.driver)
        shared = driver.owned_by_others(sorted(set(remaining) | set(new_paths)))
        declared = set(compat_product.lifecycle.keep_paths)
        files = sorted(p for p in remaining if p not in shared and p not in declared)
        unowned = sorted(p for p in new_paths if p not in shared and p not in files and p not in declared)
        kept_paths = sorted(declared & (set(remaining) | set(new_paths)))
        after = driver.snapshot()
        procs = after.new_procs(before)
        state.leftover_pids = [p["pid"] for p in procs]
        ports = sorted(after.owned_ports() - before.owned_ports())
        users = sorted(after.users() - before.users())
        kept = [u for u in users if u in compat_product.lifecycle.keep_users]
        users = [u for u in users if u not in kept]
        evidence.update({"files": files, "new_unowned_files": unowned, "processes": [describe_proc(p) for p in procs],
                         "ports": ports, "users": users, "kept_users_declared": kept, "kept_paths_declared": kept_paths})
        problems = []
        if files:
            problems.append(f"{len(files)} of the product's path(s) remain: {', '.join(files[:10])}")
        if unowned:
            problems.append(f"{len(unowned)} new path(s) nobody owns: {', '.join(unowned[:10])}")
        if procs:
            problems.append(f"{len(procs)} process(es) still running: " + "; ".join(describe_proc(p) for p in procs[:10]))
        if ports:
            problems.append(f"port(s) still listening: {ports}")
        if users:
            problems.append(f"user(s) created by the install remain: {', '.join(users)} "
                            "(declare them in lifecycle.keep_users if kept on purpose)")
        assert not problems, "residue after uninstall: " + "; ".join(problems)
