"""A product's lifecycle on one target: upload, install, start, probe, stop, uninstall.

The compat suite checks each step; `xch certify` (harness.product.deploy) uses the same driver to bring a
product up before the perf and migration suites measure it, and to remove it afterwards.

Every command text is built with harness.core.shell from argv lists; the only manifest values that
reach a shell as commands are the explicit command fields (lifecycle install/uninstall/start/stop/
restart/status, a command health probe, smoke test commands) and the submission's smoke scripts,
which are the vendor's commands by definition.

Lifecycle defaults, because the lab has no systemd and real fleets mix both:
- systemd is used when it manages the target (`/run/systemd/system` exists, as sd_booted() checks;
  PID 1 alone says nothing in a chroot that shares the host's PID namespace);
- otherwise `/etc/init.d/<service> start|stop|restart`;
- explicit `start`/`stop`/`restart` commands in the manifest win over both.

Processes and ports are scoped to the target with the uploaded probe (compat_probe.py): the lab
chroots share PID and network namespaces, so "the product's processes" are the processes in this
target's root that did not exist in a snapshot taken before the product was installed or started,
and are not part of an SSH session.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.artifacts import Fetched
from harness.core import shell
from harness.core.errors import InfraError
from harness.product import Product

PROBE = Path(__file__).with_name("compat_probe.py")
WORK_PREFIX = "/tmp/xch-compat-"  # + product id + ".XXXXXX": one private work folder per driver
SSD_WRAPPER = Path(__file__).with_name("ssd_emulation_wrapper.sh")
SSD = "/sbin/start-stop-daemon"
SSD_MARK = "xch compat suite: qemu-user emulation accommodation"
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
APT_OPTS = ("-o", "DPkg::Lock::Timeout=600", "-o", "Dpkg::Options::=--force-confdef",
            "-o", "Dpkg::Options::=--force-confold")
# Folders compared before install and after uninstall for files nobody owns (runtime leftovers).
RESIDUE_ROOTS = ("/etc", "/opt", "/srv", "/usr/local", "/var/lib", "/var/log", "/var/www")
RESIDUE_PRUNE = ("/var/lib/dpkg", "/var/lib/apt", "/var/lib/ucf", "/var/lib/systemd", "/var/log/apt",
                 "/var/lib/python", "/etc/ld.so.cache", "/var/log/dpkg.log", "/var/log/alternatives.log",
                 "/var/lib/xch")


def tail(text: str, limit: int = 1500) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else "…" + text[-limit:]


@dataclass
class Snapshot:
    """What the probe saw: this target's processes and listeners, users, memory."""

    data: dict[str, Any]

    @property
    def procs(self) -> list[dict[str, Any]]:
        return [p for p in self.data["procs"] if not p.get("session")]

    def pids(self) -> set[int]:
        return {p["pid"] for p in self.procs}

    def owned_ports(self) -> set[int]:
        """Ports held by this target's processes outside SSH sessions (a test sshd is not the product)."""
        pids = self.pids()
        return {sock["port"] for sock in self.data["listen"] if sock.get("pid") in pids}

    def all_ports(self) -> set[int]:
        return {sock["port"] for sock in self.data["listen"]}

    def users(self) -> set[str]:
        return set(self.data["users"])

    def new_procs(self, before: Snapshot) -> list[dict[str, Any]]:
        """Processes not in `before` (pid and start time both compared, so a reused pid is new)."""
        old = {(p["pid"], p["start"]) for p in before.procs}
        return [p for p in self.procs if (p["pid"], p["start"]) not in old]


def describe_proc(p: dict[str, Any]) -> str:
    args = " ".join(p["args"][1:])[:120]
    return f"pid {p['pid']} {p['prog']}{' ' + args if args else ''} (user {p['user']})"


@dataclass
class Driver:
    """One product on one target: upload, install, run, probe, remove."""

    target: Any
    facts: dict[str, Any]
    product: Product
    fetched: list[Fetched]
    workdir: str = ""
    systemd: bool | None = None
    remote_files: list[str] = field(default_factory=list)
    package_names: list[str] = field(default_factory=list)

    # -- plumbing ------------------------------------------------------------------------------
    def run(self, command: str, timeout: float = 300.0):
        return self.target.run(command, timeout=timeout)

    def prepare(self) -> None:
        """A private work folder on the target, with the probe in it."""
        if self.workdir:
            return
        result = self.run(shell.command("mktemp", "-d", f"{WORK_PREFIX}{self.product.id}.XXXXXX"), timeout=30)
        if not result.ok:
            raise InfraError(f"cannot create a work folder on {self.target.name}: {tail(result.stderr)}")
        self.workdir = result.stdout.strip()
        self.target.put(PROBE, f"{self.workdir}/compat_probe.py")
        has_python = self.run("command -v python3", timeout=30)
        if not has_python.ok:
            raise InfraError(f"{self.target.name} has no python3: the compat probe needs it")
        self.systemd = self.run("test -d /run/systemd/system && command -v systemctl >/dev/null", timeout=30).ok

    def accommodate_emulation(self) -> list[str]:
        """Make init scripts able to stop daemons on a qemu-user target (see ssd_emulation_wrapper.sh).

        Only when the target is emulated and a live self-test shows `start-stop-daemon --exec`
        cannot see an emulated process. The wrapper stays in place afterwards: it is the lab's fix,
        other runs on the same chroot need it too, and it changes nothing on real hardware (where it
        is never installed). Returns what was found or done, for the evidence.
        """
        if self.facts.get("emulation") != "qemu-user":
            return []
        self.prepare()
        remote = f"{self.workdir}/ssd-wrapper.sh"
        self.target.put(SSD_WRAPPER, remote)
        real, new = SSD + ".xch-real", SSD + ".xch-new"
        install = (f"install -m 0755 {shell.quote(remote)} {shell.quote(new)} && "
                   f"mv -f {shell.quote(new)} {shell.quote(SSD)}")
        if self.run(shell.command("grep", "-qs", SSD_MARK, SSD), timeout=30).ok:
            if not self.run(shell.command("cmp", "-s", remote, SSD), timeout=30).ok:
                self.run(install, timeout=60).check()
                return [f"updated the xch emulation wrapper at {SSD} (see harness/product/lifecycle/ssd_emulation_wrapper.sh)"]
            return [f"{SSD} is the xch emulation wrapper (see harness/product/lifecycle/ssd_emulation_wrapper.sh)"]
        test = self.run("command -v start-stop-daemon >/dev/null || exit 0; sleep 30 & p=$!; "
                        "start-stop-daemon --status --exec /bin/sleep; rc=$?; kill $p; exit $rc", timeout=60)
        if test.rc in (0, 4):
            return []
        self.run(f"[ -e {shell.quote(real)} ] || cp -p {shell.quote(SSD)} {shell.quote(real)}; {install}",
                 timeout=60).check()
        return [f"installed the xch emulation wrapper as {SSD}: under qemu-user `start-stop-daemon --exec` "
                f"cannot identify emulated processes (self-test exit {test.rc}); --stop/--status now find them "
                "by their program path"]

    def probe(self, *args: object, timeout: float = 120.0) -> dict[str, Any]:
        self.prepare()
        result = self.run(shell.command("python3", f"{self.workdir}/compat_probe.py", *args), timeout=timeout)
        if not result.ok:
            raise InfraError(f"probe {args[0]} failed on {self.target.name}: {tail(result.stderr or result.stdout)}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    def snapshot(self) -> Snapshot:
        return Snapshot(self.probe("snapshot"))

    def log_path(self, name: str) -> str:
        return f"{self.workdir}/{name}.log"

    def quiet_run(self, command: str, name: str, timeout: float):
        """Run a command with its output sent to a log file that is read back afterwards.

        Daemons inherit stdout/stderr; left on the SSH channel they could write into the output
        of later commands, so service commands never get the channel itself.
        """
        self.prepare()
        log = shell.quote(self.log_path(name))
        return self.run(f"( {command} ) >{log} 2>&1; __rc=$?; cat {log}; exit $__rc", timeout=timeout)

    @property
    def kind(self) -> str:
        return self.fetched[0].artifact.type if self.fetched else "deb"

    # -- packages --------------------------------------------------------------------------------
    def upload(self) -> list[str]:
        self.prepare()
        if not self.remote_files:
            for item in self.fetched:
                remote = f"{self.workdir}/{item.path.name}"
                self.target.put(item.path, remote)
                self.remote_files.append(remote)
        return self.remote_files

    def apt(self, *args: str) -> str:
        return shell.env_prefix(APT_ENV) + shell.command("apt-get", *APT_OPTS, *args)

    def simulate(self):
        files = self.upload()
        if self.kind == "deb":
            return self.run(self.apt("install", "--simulate", "--no-install-recommends", *files), timeout=600)
        if self.kind == "rpm":
            tool = "dnf" if self.facts.get("pkg_manager") == "dnf" else "yum"
            return self.run(shell.command(tool, "install", "-y", "--setopt=tsflags=test", *files), timeout=600)
        return None

    def install(self):
        files = self.upload()
        timeout = self.product.lifecycle.install_timeout
        if self.product.lifecycle.install:
            return self.vendor_command(self.product.lifecycle.install, "install", timeout)
        if self.kind == "deb":
            return self.run(self.apt("install", "-y", "--no-install-recommends", *files), timeout=timeout)
        if self.kind == "rpm":
            tool = "dnf" if self.facts.get("pkg_manager") == "dnf" else "yum"
            return self.run(shell.command(tool, "install", "-y", *files), timeout=timeout)
        folder = self.install_dir()
        steps = [shell.command("mkdir", "-p", folder)] + [shell.command("tar", "-xzf", f, "-C", folder) for f in files]
        return self.run(" && ".join(steps), timeout=timeout)

    def vendor_command(self, command: str, name: str, timeout: float):
        """The manifest's own install/uninstall command, run in the work folder with the uploaded
        artifacts described in the environment (names, not values, are what the vendor writes):
        XCH_ARTIFACT_DIR (the folder), XCH_ARTIFACTS (their paths, one per line), XCH_INSTALL_DIR
        (where a tar.gz product belongs; `installed` looks there), XCH_PRODUCT (the product id)."""
        env = {"XCH_ARTIFACT_DIR": self.workdir, "XCH_ARTIFACTS": "\n".join(self.remote_files),
               "XCH_INSTALL_DIR": self.install_dir(), "XCH_PRODUCT": self.product.id}
        inner = f"cd {shell.quote(self.workdir)} && {shell.env_prefix(env)}sh -c {shell.quote(command)}"
        return self.quiet_run(inner, f"{name}-{int(time.time() * 1000)}", timeout)

    def install_dir(self) -> str:
        return self.product.lifecycle.install_dir or f"/opt/{self.product.id}"

    def uninstall(self):
        timeout = self.product.lifecycle.install_timeout
        if self.product.lifecycle.uninstall:
            self.upload()  # the work folder and artifacts are where the install command found them
            return self.vendor_command(self.product.lifecycle.uninstall, "uninstall", timeout)
        if self.kind == "deb":
            return self.run(self.apt("purge", "-y", "--autoremove", *self.package_names), timeout=timeout)
        if self.kind == "rpm":
            tool = "dnf" if self.facts.get("pkg_manager") == "dnf" else "yum"
            return self.run(shell.command(tool, "remove", "-y", *self.package_names), timeout=timeout)
        return self.run(shell.command("rm", "-rf", self.install_dir()), timeout=timeout)

    def installed(self) -> list[str]:
        """Which of the product's packages the package database calls installed."""
        if self.kind == "deb":
            out = self.run(shell.command("dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\\n",
                                         *self.package_names), timeout=60).stdout
            return [line.split()[0] for line in out.splitlines() if line.endswith(" installed")]
        if self.kind == "rpm":
            return [n for n in self.package_names if self.run(shell.command("rpm", "-q", n), timeout=60).ok]
        return [self.install_dir()] if self.run(shell.command("test", "-e", self.install_dir()), timeout=30).ok else []

    def file_list(self, reports: list[dict[str, Any]]) -> list[str]:
        """Every path the installed product owns, as the package database lists it."""
        if self.kind == "deb":
            out = self.run(shell.command("dpkg-query", "-L", *self.package_names), timeout=120).stdout
        elif self.kind == "rpm":
            out = self.run(shell.command("rpm", "-ql", *self.package_names), timeout=120).stdout
        else:  # what is really under the install folder (a vendor's install command decides what goes there)
            out = self.run(shell.command("find", self.install_dir(), "-xdev", "(", "-type", "f", "-o", "-type", "l",
                                         ")", "-print") + " 2>/dev/null", timeout=120).stdout
        return sorted({line.strip() for line in out.splitlines() if line.startswith("/") and line.strip() != "/."})

    def owned_by_others(self, paths: list[str]) -> set[str]:
        """Paths another installed package owns (shared folders such as /usr/bin or /etc)."""
        owned: set[str] = set()
        if not paths or self.kind != "deb":
            return owned
        for i in range(0, len(paths), 200):
            chunk = paths[i:i + 200]
            out = self.run(shell.command("dpkg-query", "-S", *chunk) + " 2>/dev/null", timeout=120).stdout
            for line in out.splitlines():
                pkgs, _, path = line.partition(": ")
                if path and not set(p.split(":")[0] for p in pkgs.split(", ")) <= set(self.package_names):
                    owned.add(path.strip())
        return owned

    def filesystem(self) -> set[str]:
        """Paths under RESIDUE_ROOTS (without package-manager bookkeeping), for before/after diffs."""
        prune = " -o ".join(f"-path {shell.quote(p)}" for p in RESIDUE_PRUNE)
        roots = " ".join(shell.quote(r) for r in RESIDUE_ROOTS)
        out = self.run(f"find {roots} -xdev \\( {prune} \\) -prune -o -print 2>/dev/null", timeout=300).stdout
        return set(out.splitlines())

    # -- smoke tests -----------------------------------------------------------------------------
    def smoke_command(self, test: Any, index: int) -> str:
        """A smoke test's command; a script from the submission is uploaded first and run from the work
        folder (by its #! line, else with sh), with XCH_PRODUCT and XCH_INSTALL_DIR set."""
        if not test.script:
            return test.command
        self.prepare()
        remote = f"{self.workdir}/smoke-{index}-{test.script.name}"
        self.target.put(test.script, remote)
        self.run(shell.command("chmod", "0755", remote), timeout=30).check()
        shebang = test.script.read_bytes()[:2] == b"#!"
        env = shell.env_prefix({"XCH_PRODUCT": self.product.id, "XCH_INSTALL_DIR": self.install_dir()})
        return f"cd {shell.quote(self.workdir)} && {env}" + (shell.command(remote) if shebang
                                                             else shell.command("sh", remote))

    # -- service ---------------------------------------------------------------------------------
    def service_command(self, action: str) -> str:
        life = self.product.lifecycle
        explicit = {"start": life.start, "stop": life.stop, "restart": life.restart, "status": life.status}[action]
        if explicit:
            return explicit
        if life.start and action == "restart":
            return f"( {life.stop} ); ( {life.start} )"
        if not life.service:
            raise InfraError("no service or start/stop commands declared")
        if self.systemd:
            verb = "is-active" if action == "status" else action
            return shell.command("systemctl", verb, life.service)
        script = f"/etc/init.d/{life.service}"
        return f"if [ -x {shell.quote(script)} ]; then {shell.command(script, action)}; " \
               f"else echo {shell.quote(f'no {script} and no systemd on this target')} >&2; exit 127; fi"

    def service(self, action: str, timeout: float):
        self.prepare()
        return self.quiet_run(self.service_command(action), f"service-{action}-{int(time.time() * 1000)}", timeout)

    def health(self, timeout: float | None = None) -> dict[str, Any]:
        """Poll the declared health probe until it passes or its timeout ends."""
        life = self.product.lifecycle
        probe = life.health
        limit = timeout if timeout is not None else (probe.timeout if probe else 60.0)
        owned = "owned" if self.facts.get("is_root", True) else "any"
        if probe is None:
            if not life.ports:
                return {"ok": True, "elapsed": 0.0, "how": "no health probe or port declared"}
            return {**self.probe("wait-tcp", "127.0.0.1", life.ports[0], limit, owned, timeout=limit + 60),
                    "how": f"tcp 127.0.0.1:{life.ports[0]} (first declared port)"}
        if probe.type == "tcp":
            return {**self.probe("wait-tcp", probe.host, probe.port, limit, owned, timeout=limit + 60),
                    "how": f"tcp {probe.host}:{probe.port}"}
        if probe.type == "http":
            return {**self.probe("wait-http", probe.url, probe.expect_status, limit, timeout=limit + 60),
                    "how": f"http {probe.url} -> {probe.expect_status}"}
        start, last = time.monotonic(), None
        while True:
            last = self.run(probe.command, timeout=max(5.0, min(60.0, limit)))
            ok = last.rc == probe.expect_rc and not last.timed_out and probe.expect_output in last.stdout
            elapsed = time.monotonic() - start
            if ok or elapsed >= limit:
                return {"ok": ok, "elapsed": round(elapsed, 3), "how": f"command {probe.command!r}",
                        "error": "" if ok else f"exit {last.rc}, output {tail(last.stdout, 200)!r}; expected exit "
                                               f"{probe.expect_rc} and output containing {probe.expect_output!r}"}
            time.sleep(1.0)

    def product_procs(self, snap: Snapshot, before: Snapshot) -> list[dict[str, Any]]:
        return snap.new_procs(before)

    def main_pid(self, snap: Snapshot, before: Snapshot) -> int | None:
        """The service's main process: the pid file if declared, else the oldest new process of that name."""
        life = self.product.lifecycle
        if life.pidfile:
            out = self.run(shell.command("cat", life.pidfile) + " 2>/dev/null", timeout=30).stdout.strip()
            if out.isdigit() and int(out) in {p["pid"] for p in snap.procs}:
                return int(out)
        name = life.process
        candidates = [p for p in snap.new_procs(before) if os.path.basename(p["prog"]) == name
                      or (p["args"] and p["args"][0].split() and
                          os.path.basename(p["args"][0].split()[0]).rstrip(":") == name)]
        pids = {p["pid"] for p in candidates}
        roots = [p for p in candidates if p["ppid"] not in pids] or candidates
        return min(roots, key=lambda p: (p["start"], p["pid"]))["pid"] if roots else None

    def kill9(self, pids: list[int]) -> None:
        if pids:
            self.run(shell.command("kill", "-9", *pids) + " 2>/dev/null; true", timeout=30)

    def cleanup(self, before: Snapshot | None, files: list[str], leftovers: list[int] = ()) -> list[str]:
        """Best effort, after a target's last check: stop, purge, kill what the product left running,
        remove the work folder. Returns what it did, for the log. Only processes that run one of the
        product's files or carry its process name are killed: other people's processes are not ours."""
        done: list[str] = []
        try:
            if self.package_names and self.installed():
                if self.product.lifecycle.has_service:
                    self.service("stop", timeout=self.product.lifecycle.stop_timeout)
                self.uninstall()
                done.append("stopped and uninstalled")
            if before is not None:
                owned = set(files)
                name = self.product.lifecycle.process
                left = [p for p in self.snapshot().new_procs(before)
                        if p["prog"] in owned or p["pid"] in leftovers
                        or (name and os.path.basename(p["prog"]) == name)]
                if left:
                    self.kill9([p["pid"] for p in left])
                    done.append("killed " + ", ".join(describe_proc(p) for p in left))
        finally:
            if self.workdir:
                self.run(shell.command("rm", "-rf", self.workdir), timeout=60)
        return done
