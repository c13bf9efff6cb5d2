"""A fleet of extra sshd targets on this machine, for the fleet benchmark and the fleet fault tests.

Why: a certification lab drives many machines at once, and how xch scales and contains faults can
only be shown against many real sshds. Each member is its own sshd, chrooted into the lab's
amd64 image (the same userland `lab-x86` runs), so it can be killed, restarted, cut off or slowed
on its own. A member either listens on a loopback address (127.0.1.K: any 127/8 address works on
Linux loopback, no set-up) or lives in a network namespace of its own, reached through a veth
pair with a private /30 (10.213.X.0/30), so that its link can be taken down or delayed with
`tc netem` like a real cable or a congested network.

Needs root, the lab image (`xch lab up`) and iproute2 for namespaces. Everything started is
removed by `close()` (also on Ctrl-C when used as a context manager); traffic only ever goes to
addresses of namespaces this module created: a blackhole route per /30 catches packets to a
member whose link is down, so they never fall through to the default route.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from harness import lab
from harness.core.errors import LabError
from harness.lab import sshd

LAB_KEY_NAME = "id_ed25519"
IMAGE = "bookworm-amd64"
NETNS_PREFIX = "10.213"
SSHD = "/usr/sbin/sshd"


@dataclass
class Member:
    """One fleet target: its own sshd, on loopback or inside a namespace of ours."""

    name: str
    host: str
    port: int
    pidfile: str  # inside the chroot
    netns: str = ""  # network namespace name, "" for loopback
    host_veth: str = ""
    ns_veth: str = ""
    subnet: str = ""  # "10.213.X.0/30" when in a namespace
    labels: dict[str, str] = field(default_factory=dict)
    connect_timeout: float = 10.0
    command_timeout: float = 300.0

    def inventory_entry(self, key: str, known_hosts: str) -> dict:
        return {"name": self.name, "host": self.host, "port": self.port, "user": "root", "identity_file": key,
                "use_agent": False, "known_hosts": known_hosts, "connect_timeout": self.connect_timeout,
                "command_timeout": self.command_timeout, "labels": self.labels}


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise LabError(f"ip {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _used_third_octets() -> set[int]:
    out = _ip("-4", "-o", "addr", "show").stdout + _ip("-4", "route", "show").stdout
    used = set()
    for word in out.split():
        if word.startswith(NETNS_PREFIX + "."):
            parts = word.split("/")[0].split(".")
            if len(parts) == 4 and parts[2].isdigit():
                used.add(int(parts[2]))
    return used


class LabFleet:
    """Start `size` sshd members; `netns` lists the indices (0-based) that get a namespace of their own.

    Use as a context manager, or call start() then close(). `inventory(path)` writes a targets
    TOML for `xch run --inventory`. Members are named `<prefix>-01`, `<prefix>-02`, ...
    """

    def __init__(self, size: int, workdir: Path, *, netns: set[int] | frozenset[int] = frozenset(),
                 prefix: str = "fleet", connect_timeout: float = 10.0, command_timeout: float = 300.0,
                 labels: dict[int, dict[str, str]] | None = None) -> None:
        if size < 1 or size > 200:
            raise LabError(f"fleet size must be 1..200, got {size}")
        self.root = lab.lab_dir() / "images" / IMAGE
        if not (self.root / SSHD.lstrip("/")).exists():
            raise LabError(f"lab image {self.root} has no {SSHD}: run `xch lab up` first")
        self.key = str(lab.lab_dir() / LAB_KEY_NAME)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.known_hosts = self.workdir / "known_hosts"
        self.tag = secrets.token_hex(2)  # keeps names of concurrent fleets apart
        self.members: list[Member] = []
        self._routes: list[str] = []
        labels = labels or {}
        octets = iter(sorted(set(range(1, 255)) - _used_third_octets(), key=lambda _: secrets.randbelow(1 << 30)))
        for i in range(size):
            name = f"{prefix}-{i + 1:02d}"
            pidfile = f"/run/sshd.xchfleet-{self.tag}-{i + 1}.pid"
            member_labels = {"fleet": prefix, **labels.get(i, {})}
            if i in netns:
                octet = next(octets)
                ns = f"xchf-{self.tag}-{i + 1}"
                member = Member(name, f"{NETNS_PREFIX}.{octet}.2", 2222, pidfile, netns=ns,
                                host_veth=f"xf{self.tag}{i + 1}h", ns_veth=f"xf{self.tag}{i + 1}n",
                                subnet=f"{NETNS_PREFIX}.{octet}.0/30", labels=member_labels)
            else:
                host = f"127.0.1.{i + 1}"
                member = Member(name, host, _free_port(host), pidfile, labels=member_labels)
            member.connect_timeout = connect_timeout
            member.command_timeout = command_timeout
            self.members.append(member)

    # -- life cycle --------------------------------------------------------------------------
    def __enter__(self) -> LabFleet:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        lines: list[str] = []
        for m in self.members:
            if m.netns:
                self._make_netns(m)
            lines += sshd.host_key_lines(self.root, m.host, m.port)
        self.known_hosts.write_text("\n".join(lines) + "\n")
        for m in self.members:
            self.start_sshd(m, wait=False)
        for m in self.members:
            self.wait_ready(m)

    def _make_netns(self, m: Member) -> None:
        octets = m.subnet.split("/")[0].rsplit(".", 1)[0]
        _ip("netns", "add", m.netns)
        _ip("link", "add", m.host_veth, "type", "veth", "peer", "name", m.ns_veth)
        _ip("link", "set", m.ns_veth, "netns", m.netns)
        _ip("addr", "add", f"{octets}.1/30", "dev", m.host_veth)
        _ip("link", "set", m.host_veth, "up")
        _ip("-n", m.netns, "addr", "add", f"{octets}.2/30", "dev", m.ns_veth)
        _ip("-n", m.netns, "link", "set", m.ns_veth, "up")
        _ip("-n", m.netns, "link", "set", "lo", "up")
        # If the host end ever goes down its connected route goes with it; without this the
        # packets would follow the default route out of the machine.
        _ip("route", "add", "blackhole", m.subnet, "metric", "4000")
        self._routes.append(m.subnet)

    def sshd_command(self, m: Member) -> list[str]:
        enter = ["nsenter", f"--net=/run/netns/{m.netns}"] if m.netns else []
        return [*enter, "chroot", str(self.root), SSHD, "-p", str(m.port), "-o", f"ListenAddress={m.host}",
                "-o", "UsePAM=no", "-o", "UseDNS=no", "-o", f"PidFile={m.pidfile}",
                "-o", "PermitRootLogin=prohibit-password", "-o", "PasswordAuthentication=no",
                "-o", "MaxStartups=50:30:200"]

    def start_sshd(self, m: Member, wait: bool = True) -> None:
        proc = subprocess.run(self.sshd_command(m), stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if proc.returncode != 0:
            raise LabError(f"{m.name}: sshd did not start: {proc.stderr.strip()}")
        if wait:
            self.wait_ready(m)

    def wait_ready(self, m: Member, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((m.host, m.port), timeout=2) as sock:
                    sock.settimeout(2)
                    if sock.recv(8).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.05)
        raise LabError(f"{m.name}: sshd on {m.host}:{m.port} did not answer within {timeout:g}s")

    def sshd_process(self, m: Member) -> psutil.Process | None:
        pidfile = self.root / m.pidfile.lstrip("/")
        try:
            return psutil.Process(int(pidfile.read_text()))
        except (OSError, ValueError, psutil.NoSuchProcess):
            return None

    def kill_sshd(self, m: Member) -> None:
        """SIGKILL the member's listener and every session it forked (the machine's sshd dies)."""
        listener = self.sshd_process(m)
        if listener is not None:
            try:
                for proc in [listener, *listener.children(recursive=True)]:
                    try:
                        proc.kill()
                    except psutil.NoSuchProcess:
                        pass
            except psutil.NoSuchProcess:
                pass
        (self.root / m.pidfile.lstrip("/")).unlink(missing_ok=True)

    # -- faults on a namespaced member -------------------------------------------------------
    def _ns_only(self, m: Member) -> None:
        if not m.netns:
            raise LabError(f"{m.name} is on loopback; network faults need a member created with netns=")

    def link(self, m: Member, up: bool) -> None:
        """Take the member's end of its link down (a cut cable: no RST, packets just vanish) or up."""
        self._ns_only(m)
        _ip("-n", m.netns, "link", "set", m.ns_veth, "up" if up else "down")

    def delay(self, m: Member, ms: int) -> None:
        """Delay every packet the member sends by `ms` (tc netem on its end of the link)."""
        self._ns_only(m)
        proc = subprocess.run(["tc", "-n", m.netns, "qdisc", "replace", "dev", m.ns_veth, "root", "netem",
                               "delay", f"{ms}ms"], capture_output=True, text=True)
        if proc.returncode != 0:
            raise LabError(f"tc netem on {m.name} failed: {proc.stderr.strip()}")

    def target_cpu_s(self) -> float:
        """CPU seconds used so far by every member's sshd listener and its reaped sessions."""
        total = 0.0
        for m in self.members:
            proc = self.sshd_process(m)
            if proc is None:
                continue
            try:
                t = proc.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
                for child in proc.children(recursive=True):
                    c = child.cpu_times()
                    total += c.user + c.system + c.children_user + c.children_system
            except psutil.NoSuchProcess:
                pass
        return total

    # -- inventory and teardown --------------------------------------------------------------
    def inventory(self, path: Path | None = None, members: list[Member] | None = None) -> Path:
        """A targets TOML of `members` (default: all) for `xch run --inventory`."""
        path = path or self.workdir / "fleet.toml"
        lines = []
        for m in self.members if members is None else members:
            lines.append("[[target]]")
            for key, value in m.inventory_entry(self.key, str(self.known_hosts)).items():
                if isinstance(value, dict):  # json quoting is valid TOML for these plain values
                    value = "{ " + ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in value.items()) + " }"
                else:
                    value = json.dumps(value)
                lines.append(f"{key} = {value}")
        path.write_text("\n".join(lines) + "\n")
        return path

    def close(self) -> None:
        """Kill every sshd, delete namespaces, veths and routes; safe to call twice."""
        for m in self.members:
            self.kill_sshd(m)
            if m.netns:
                _ip("link", "del", m.host_veth, check=False)
                _ip("netns", "del", m.netns, check=False)
        for subnet in self._routes:
            _ip("route", "del", "blackhole", subnet, "metric", "4000", check=False)
        self._routes.clear()

    def __getitem__(self, index: int) -> Member:
        return self.members[index]
