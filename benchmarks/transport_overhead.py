#!/usr/bin/env python3
"""Per-command overhead of xch's SSH transport next to the usual alternatives, on the lab targets.

For each target, in one run, every contender runs a trivial command (`true`) many times and each
call is timed with time.perf_counter (after a few untimed warm-up calls):

  xch                     conn.run("true") on xch's persistent, framed /bin/sh (harness.transport)
  floor                   a bare /bin/sh on one paramiko channel: send "true; echo MARK", read to MARK
  paramiko exec_command   a new SSH channel + exec per command, on one connected paramiko transport
  fresh ssh               one OpenSSH `ssh ... true` process (new TCP + key exchange + auth) per command
  ssh ControlMaster       OpenSSH multiplexing: `ssh -o ControlPath=... true` over a warm master
  testinfra (paramiko)    pytest-testinfra's paramiko backend, host.run("true") (skipped if not importable)

plus xch with `uname -a` (an exec on the target), with 64 KiB of output, and xch's connect time
(connect + first command on a new connection). Two diagnostic rows help read the figures:
"floor + fork" (the bare shell running `( true ) </dev/null & wait $!`, i.e. the fork xch's
framing pays), and "exec_command, TCP_NODELAY" (the same calls with Nagle turned off on
paramiko's client socket, which paramiko leaves on; xch turns it off on its own connections). Only medians and ratios are reported; nothing here
asserts a timing. See benchmarks/README.md for the method and the last figures.

    .venv/bin/python benchmarks/transport_overhead.py [--targets lab-x86,lab-arm64] [--count 300]
        [--slow-count 30] [--json [FILE]]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
from machine import describe_machine  # benchmarks/machine.py, beside this script
from tabulate import tabulate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.inventory import Target, load_inventory  # noqa: E402
from harness.transport import open_connection  # noqa: E402

WARMUP = 5
FLOOR_MARK = b"__XCH_BENCH_FLOOR_MARK__"


# -- statistics ---------------------------------------------------------------------------------
def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil
    return ordered[int(rank) - 1]


@dataclass
class Result:
    name: str
    samples: list[float] = field(default_factory=list)  # seconds
    note: str = ""
    skipped: str = ""

    @property
    def median_ms(self) -> float:
        return percentile(self.samples, 50) * 1000

    @property
    def p90_ms(self) -> float:
        return percentile(self.samples, 90) * 1000

    @property
    def min_ms(self) -> float:
        return min(self.samples) * 1000


def measure(name: str, call: Callable[[], None], count: int, warmup: int = WARMUP, note: str = "") -> Result:
    for _ in range(warmup):
        call()
    res = Result(name, note=note)
    clock = time.perf_counter
    for _ in range(count):
        t0 = clock()
        call()
        res.samples.append(clock() - t0)
    return res


# -- contenders -----------------------------------------------------------------------------------
def strict_paramiko_client(t: Target) -> paramiko.SSHClient:
    """A paramiko client that checks the host key against the target's known_hosts and refuses unknown keys."""
    client = paramiko.SSHClient()
    client.load_host_keys(t.known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(hostname=t.host, port=t.port, username=t.user, key_filename=t.identity_file,
                   allow_agent=False, look_for_keys=False, timeout=t.connect_timeout)
    return client


def bench_xch(t: Target, inv, count: int, slow_count: int) -> list[Result]:
    conn = open_connection(t, inv)
    conn.connect()
    out: list[Result] = []

    def run(cmd: str, expect_len: int | None = None) -> Callable[[], None]:
        def call() -> None:
            r = conn.run(cmd)
            if r.rc != 0 or (expect_len is not None and len(r.stdout) != expect_len):
                raise RuntimeError(f"xch {cmd!r} on {t.name}: rc={r.rc} stdout={len(r.stdout)}B {r.stderr!r}")
        return call

    try:
        out.append(measure("xch", run("true"), count, note='conn.run("true")'))
        out.append(measure("xch uname -a", run("uname -a"), count, note="one exec on the target"))
        out.append(measure("xch 64 KiB out", run("head -c 65536 /dev/zero", 65536), count,
                           note="head -c 65536 /dev/zero"))
    finally:
        conn.close()

    def connect_once() -> None:
        c = open_connection(t, inv)
        try:
            c.connect()
            if c.run("true").rc != 0:
                raise RuntimeError("first command failed")
        finally:
            c.close()

    out.append(measure("xch connect", connect_once, slow_count, warmup=1,
                       note="new connection: connect + first command"))
    return out


def bench_floor(t: Target, count: int) -> list[Result]:
    """The bare persistent shell, plus a diagnostic variant that adds the fork xch's framing costs."""
    client = strict_paramiko_client(t)
    try:
        chan = client.get_transport().open_session()
        chan.exec_command("/bin/sh")
        tail = FLOOR_MARK + b"\n"

        def caller(line: bytes) -> Callable[[], None]:
            def call() -> None:
                chan.sendall(line)
                buf = b""
                while not buf.endswith(tail):
                    data = chan.recv(65536)
                    if not data:
                        raise RuntimeError(f"floor shell on {t.name} closed")
                    buf += data
            return call

        return [
            measure("floor (bare sh)", caller(b"true; echo " + FLOOR_MARK + b"\n"), count,
                    note="true; echo MARK on one channel (builtins only: no fork)"),
            measure("floor + fork", caller(b"( true ) </dev/null & wait $!; echo " + FLOOR_MARK + b"\n"), count,
                    note="diagnostic: ( true ) </dev/null & wait $!; echo MARK"),
        ]
    finally:
        client.close()


def bench_exec_command(t: Target, count: int, nodelay: bool = False) -> Result:
    client = strict_paramiko_client(t)
    transport = client.get_transport()
    if nodelay:  # diagnostic: paramiko leaves Nagle on; see the README
        transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def call() -> None:
        chan = transport.open_session()
        chan.exec_command("true")
        while chan.recv(65536):
            pass
        while chan.recv_stderr_ready():
            chan.recv_stderr(65536)
        rc = chan.recv_exit_status()
        chan.close()
        if rc != 0:
            raise RuntimeError(f"exec_command on {t.name}: rc={rc}")

    try:
        if nodelay:
            return measure("exec_command, TCP_NODELAY", call, count, warmup=3,
                           note="diagnostic: same, client socket TCP_NODELAY")
        return measure("paramiko exec_command", call, count, warmup=3, note="new channel per command")
    finally:
        client.close()


def ssh_base(t: Target) -> list[str]:
    return ["ssh", "-i", t.identity_file, "-o", f"UserKnownHostsFile={t.known_hosts}",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", "LogLevel=ERROR", "-F", "/dev/null", "-p", str(t.port), f"{t.user}@{t.host}"]


def _ssh_call(argv: list[str], what: str) -> Callable[[], None]:
    def call() -> None:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise RuntimeError(f"{what}: rc={p.returncode} {p.stderr.decode(errors='replace').strip()}")
    return call


def bench_fresh_ssh(t: Target, count: int) -> Result:
    return measure("fresh ssh", _ssh_call(ssh_base(t) + ["true"], f"ssh to {t.name}"), count, warmup=2,
                   note="one ssh process per command")


def bench_controlmaster(t: Target, count: int) -> Result:
    base = ssh_base(t)
    opts = ["-o", "ControlMaster=auto", "-o", "ControlPath=/tmp/xch-bench-%C", "-o", "ControlPersist=60"]
    argv = base[:1] + opts + base[1:]
    try:
        # the first (warm-up) call starts the master; the timed calls reuse it
        return measure("ssh ControlMaster", _ssh_call(argv + ["true"], f"ssh (mux) to {t.name}"), count,
                       note="ssh process per command, multiplexed")
    finally:
        subprocess.run(argv[:-1] + ["-O", "exit", argv[-1]], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def bench_testinfra(t: Target, count: int) -> Result:
    try:
        import testinfra  # type: ignore[import-not-found]
    except ImportError:
        return Result("testinfra (paramiko)", skipped="pytest-testinfra not importable in this Python; "
                      "see benchmarks/README.md to include it")
    host = testinfra.get_host(f"paramiko://{t.user}@{t.host}:{t.port}", ssh_identity_file=t.identity_file,
                              ssh_config=os.devnull)
    # testinfra's paramiko backend sets paramiko.WarningPolicy and loads no known_hosts file at all
    # (any host key is accepted with a logged warning; ssh_config's UserKnownHostsFile and
    # StrictHostKeyChecking=yes are ignored). Its `client` is a cached_property: pre-seed it with a
    # strictly checked client so the benchmark never trusts an unverified key. The per-command path
    # (host.run -> quote -> new channel, exec, makefile reads, exit status) is testinfra's own.
    host.backend.__dict__["client"] = strict_paramiko_client(t)

    def call() -> None:
        r = host.run("true")
        if r.rc != 0:
            raise RuntimeError(f"testinfra on {t.name}: rc={r.rc}")

    try:
        return measure("testinfra (paramiko)", call, count, note="host.run; new channel per command")
    finally:
        host.backend.client.close()


# -- reporting ----------------------------------------------------------------------------------
def machine() -> dict[str, str]:
    ssh_v = subprocess.run(["ssh", "-V"], capture_output=True, text=True)
    return describe_machine(paramiko=paramiko.__version__, openssh=(ssh_v.stderr or ssh_v.stdout).strip())


def report(target: Target, results: list[Result]) -> dict:
    by = {r.name: r for r in results}
    xch = by["xch"]
    floor = by.get("floor (bare sh)")
    rows = []
    for r in results:
        if r.skipped:
            rows.append([r.name, 0, "-", "-", "-", "-", "skipped: " + r.skipped])
            continue
        rows.append([r.name, len(r.samples), f"{r.median_ms:.2f}", f"{r.p90_ms:.2f}", f"{r.min_ms:.2f}",
                     f"{r.median_ms / xch.median_ms:.1f}x", r.note])
    arch = target.labels.get("arch", "?")
    emulated = target.labels.get("emulated")
    title = f"{target.name} ({target.user}@{target.host}:{target.port}, {arch}"
    title += f", {emulated} emulation - not ARM silicon)" if emulated else ", native)"
    print(f"\n== {title}")
    print(tabulate(rows, headers=["contender", "n", "median ms", "p90 ms", "min ms", "median / xch", "what"],
                   tablefmt="github", disable_numparse=True))
    lines = []
    fork = by.get("floor + fork")
    if floor:
        lines.append(f"xch / floor = {xch.median_ms / floor.median_ms:.2f}x "
                     f"({xch.median_ms:.2f} ms vs {floor.median_ms:.2f} ms; "
                     f"xch's framing adds {xch.median_ms - floor.median_ms:.2f} ms per command)")
    if fork:
        lines.append(f"xch / (floor + fork) = {xch.median_ms / fork.median_ms:.2f}x "
                     f"(the fork alone costs {fork.median_ms - floor.median_ms:.2f} ms here)")
    for name in ("paramiko exec_command", "testinfra (paramiko)", "ssh ControlMaster", "fresh ssh"):
        r = by.get(name)
        if r and not r.skipped:
            lines.append(f"{name} is {r.median_ms / xch.median_ms:.0f}x xch (median)")
    for line in lines:
        print("  " + line)
    return {
        "target": target.name, "host": target.host, "port": target.port, "labels": dict(target.labels),
        "results": [
            {"contender": r.name, "skipped": r.skipped or None, "n": len(r.samples), "note": r.note,
             **({} if r.skipped else {"median_ms": r.median_ms, "p90_ms": r.p90_ms, "min_ms": r.min_ms,
                                      "ratio_to_xch": r.median_ms / xch.median_ms})}
            for r in results
        ],
        "xch_over_floor": (xch.median_ms / floor.median_ms) if floor else None,
        "xch_over_floor_fork": (xch.median_ms / fork.median_ms) if fork else None,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", default="lab-x86,lab-arm64", help="comma-separated inventory names")
    ap.add_argument("--inventory", default=str(ROOT / "targets" / "lab.toml"))
    ap.add_argument("--count", type=int, default=300, help="timed calls for the fast contenders")
    ap.add_argument("--slow-count", type=int, default=30,
                    help="timed calls for fresh ssh, paramiko exec_command (both rows) and xch connect")
    ap.add_argument("--json", nargs="?", const="-", metavar="FILE",
                    help="also dump the figures as JSON (to FILE, or stdout without one)")
    args = ap.parse_args(argv)

    if shutil.which("ssh") is None:
        print("the OpenSSH client (ssh) is not installed", file=sys.stderr)
        return 2
    inv = load_inventory([Path(args.inventory)])
    info = machine()
    print("xch transport overhead benchmark")
    print(f"date:    {info['date']}")
    print(f"machine: {info['nproc']} CPUs, {info['cpu']}, {info['kernel']}")
    print(f"tools:   Python {info['python']}, paramiko {info['paramiko']}, {info['openssh']}")
    print("note:    lab-arm64 is a Debian arm64 userland under qemu-user emulation on this host: its timings "
          "are emulation, not ARM silicon. Medians and ratios only; timings are not asserted.")
    print(f"counts:  {args.count} timed calls (fresh ssh, exec_command, xch connect: {args.slow_count}), "
          f"after warm-up calls; command `true` unless stated")

    dump = {"machine": info, "count": args.count, "slow_count": args.slow_count, "targets": []}
    started = time.perf_counter()
    for name in [n.strip() for n in args.targets.split(",") if n.strip()]:
        t = inv.get(name)
        results: list[Result] = []
        xch_results = bench_xch(t, inv, args.count, args.slow_count)
        results.append(xch_results[0])
        results.extend(bench_floor(t, args.count))
        results.append(bench_testinfra(t, args.count))
        results.append(bench_controlmaster(t, args.count))
        results.append(bench_exec_command(t, args.slow_count))
        results.append(bench_exec_command(t, args.slow_count, nodelay=True))
        results.append(bench_fresh_ssh(t, args.slow_count))
        results.extend(xch_results[1:])
        dump["targets"].append(report(t, results))
    elapsed = time.perf_counter() - started
    print(f"\n(total {elapsed:.0f} s)")
    dump["elapsed_s"] = elapsed
    if args.json == "-":
        print(json.dumps(dump, indent=2))
    elif args.json:
        Path(args.json).write_text(json.dumps(dump, indent=2) + "\n")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
