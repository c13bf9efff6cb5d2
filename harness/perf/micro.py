"""Platform micro-benchmarks: for each, the tool, the command of one run and the parser of its output.

One run of a command is one sample of each of its metrics; harness.perf.stats decides how many runs.
Time-based runs (`--time`, `-t`, `--runtime`) bound the cost on a slow (emulated) target: a
fixed amount of work would take ten times longer there. Parsers are pure and tested against real
output captured on the lab (tests/unit/test_perf_micro.py).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.core import shell
from harness.perf.criteria import BenchSettings


class ParseError(Exception):
    """A tool's output did not hold the figure we expected (a tool or harness problem, not the product)."""


@dataclass(frozen=True)
class MetricSpec:
    name: str
    unit: str
    direction: str  # "higher" | "lower"
    description: str


@dataclass(frozen=True)
class Benchmark:
    key: str
    tool: str
    metrics: tuple[MetricSpec, ...]
    command: Callable[[BenchSettings, dict[str, Any]], str]  # (settings, facts) -> shell command of one run
    parse: Callable[[str], dict[str, float]]
    params: Callable[[BenchSettings], dict[str, Any]]  # what must match for two measurements to compare
    prepare: Callable[[BenchSettings], str] | None = None
    cleanup: Callable[[BenchSettings], str] | None = None
    timeout: Callable[[BenchSettings], float] = field(default=lambda s: 120.0 + 20 * s.seconds)

    def spec(self, name: str) -> MetricSpec:
        return next(m for m in self.metrics if m.name == name)


def _threads(facts: dict[str, Any]) -> int:
    try:
        return max(1, int(facts.get("cores") or 1))
    except (TypeError, ValueError):
        return 1


def _find(pattern: str, text: str, what: str) -> float:
    m = re.search(pattern, text, re.MULTILINE)
    if not m:
        raise ParseError(f"{what} not found in the output: {text.strip()[-300:]!r}")
    return float(m.group(1))


# -- sysbench ----------------------------------------------------------------------------------

def parse_sysbench_cpu(text: str) -> dict[str, float]:
    return {"events_per_s": _find(r"events per second:\s*([0-9.]+)", text, "sysbench 'events per second'")}


def parse_sysbench_memory(text: str) -> dict[str, float]:
    return {"mib_per_s": _find(r"MiB transferred \(([0-9.]+) MiB/sec\)", text, "sysbench 'MiB/sec'")}


def parse_sysbench_memory_random(text: str, block_mb: int) -> dict[str, float]:
    """ns per random 8-byte read: total time / (events x reads per event); sysbench's rnd mode
    reads block_size / sizeof(size_t) random words of the buffer per event."""
    total_s = _find(r"total time:\s*([0-9.]+)s", text, "sysbench 'total time'")
    events = _find(r"total number of events:\s*([0-9]+)", text, "sysbench 'total number of events'")
    if events <= 0:
        raise ParseError("sysbench memory finished no event: raise [benchmarks] seconds")
    reads = events * block_mb * 1024 * 1024 / 8
    return {"random_read_ns": total_s * 1e9 / reads}


def _sysbench(test: str, *args: str) -> Callable[[BenchSettings, dict[str, Any]], str]:
    def build(s: BenchSettings, facts: dict[str, Any], _args=args) -> str:
        final = [a.replace("{threads}", str(_threads(facts))) for a in _args]
        return shell.command("sysbench", test, f"--time={s.seconds}", *final, "run")
    return build


CPU_SINGLE = Benchmark(
    key="cpu.single_thread", tool="sysbench",
    metrics=(MetricSpec("cpu.single_thread", "events/s", "higher", "sysbench cpu, 1 thread (primes up to 10000)"),),
    command=_sysbench("cpu", "--threads=1", "--cpu-max-prime=10000"),
    parse=lambda t: {"cpu.single_thread": parse_sysbench_cpu(t)["events_per_s"]},
    params=lambda s: {"tool": "sysbench cpu", "seconds": s.seconds, "threads": 1, "cpu_max_prime": 10000},
)

CPU_MULTI = Benchmark(
    key="cpu.multi_thread", tool="sysbench",
    metrics=(MetricSpec("cpu.multi_thread", "events/s", "higher",
                        "sysbench cpu, one thread per online CPU (whole-machine throughput)"),),
    command=_sysbench("cpu", "--threads={threads}", "--cpu-max-prime=10000"),
    parse=lambda t: {"cpu.multi_thread": parse_sysbench_cpu(t)["events_per_s"]},
    params=lambda s: {"tool": "sysbench cpu", "seconds": s.seconds, "threads": "all online CPUs", "cpu_max_prime": 10000},
)

MEMORY_BANDWIDTH = Benchmark(
    key="memory.bandwidth", tool="sysbench",
    metrics=(MetricSpec("memory.bandwidth", "MiB/s", "higher", "sysbench memory, sequential write, 1 thread"),),
    command=lambda s, f: shell.command("sysbench", "memory", f"--time={s.seconds}", "--threads=1",
                                       f"--memory-block-size={s.memory_block_kb}K", "--memory-total-size=1000T",
                                       "--memory-oper=write", "--memory-access-mode=seq", "run"),
    parse=lambda t: {"memory.bandwidth": parse_sysbench_memory(t)["mib_per_s"]},
    params=lambda s: {"tool": "sysbench memory", "seconds": s.seconds, "block_kb": s.memory_block_kb, "oper": "write"},
)

MEMORY_LATENCY = Benchmark(
    key="memory.random_read", tool="sysbench",
    metrics=(MetricSpec("memory.random_read_ns", "ns", "lower",
                        "sysbench memory rnd read: time per random 8-byte read in a buffer larger than caches "
                        "(includes sysbench's RNG; a throughput-bound latency, not a pointer chase)"),),
    command=lambda s, f: shell.command("sysbench", "memory", f"--time={s.seconds}", "--threads=1",
                                       f"--memory-block-size={s.memory_random_block_mb}M", "--memory-total-size=1000T",
                                       "--memory-oper=read", "--memory-access-mode=rnd", "run"),
    parse=lambda t: {},  # bound to the buffer size by memory_latency()
    params=lambda s: {"tool": "sysbench memory rnd", "seconds": s.seconds, "block_mb": s.memory_random_block_mb},
)


def memory_latency(settings: BenchSettings) -> Benchmark:
    """MEMORY_LATENCY with its parser bound to the configured buffer size."""
    from dataclasses import replace

    return replace(MEMORY_LATENCY, parse=lambda t: {
        "memory.random_read_ns": parse_sysbench_memory_random(t, settings.memory_random_block_mb)["random_read_ns"]})


# -- fio ---------------------------------------------------------------------------------------

def fio_command(s: BenchSettings, facts: dict[str, Any]) -> str:
    """Sequential 1 MiB writes, then (stonewall) random 4 KiB reads of the same file, JSON output.
    O_DIRECT when asked; if the file system refuses it (tmpfs, some overlays) fio runs buffered and
    the output says so ("direct": 0 in the job options)."""
    path = s.fio_dir.rstrip("/") + "/xch-fio.dat"
    common = ["--ioengine=psync", f"--size={s.fio_size_mb}M", f"--runtime={s.seconds}", "--time_based",
              f"--filename={path}"]

    def run(direct: int) -> str:
        return shell.command("fio", "--output-format=json", "--name=seqwrite", "--rw=write", "--bs=1M",
                             f"--direct={direct}", "--end_fsync=1", *common,
                             "--name=randread", "--stonewall", "--rw=randread", "--bs=4k", f"--direct={direct}", *common)

    if s.fio_direct:
        return f"o=$({run(1)}) || o=$({run(0)}); printf '%s\\n' \"$o\""
    return run(0)


def _json_output(text: str, tool: str) -> dict:
    """The JSON document a tool printed, after any banner lines before it."""
    start = text.find("{")
    if start < 0:
        raise ParseError(f"no JSON in {tool} output: {text.strip()[-300:]!r}")
    try:
        return json.loads(text[start:])
    except json.JSONDecodeError as exc:
        raise ParseError(f"{tool} JSON unreadable: {exc}") from None


def parse_fio(text: str) -> dict[str, float]:
    data = _json_output(text, "fio")
    jobs = {j.get("jobname"): j for j in data.get("jobs", [])}
    if "seqwrite" not in jobs or "randread" not in jobs:
        raise ParseError(f"fio jobs missing: got {sorted(jobs)}")
    for job in jobs.values():
        if job.get("error"):
            raise ParseError(f"fio job {job.get('jobname')} failed with error {job['error']}")
    rr = jobs["randread"]["read"]
    p99 = (rr.get("clat_ns", {}).get("percentile") or {}).get("99.000000")
    out = {"disk.seq_write": jobs["seqwrite"]["write"]["bw_bytes"] / 2**20, "disk.rand_read_iops": float(rr["iops"])}
    if p99 is not None:
        out["disk.rand_read_p99_us"] = float(p99) / 1000.0
    return out


DISK = Benchmark(
    key="disk", tool="fio",
    metrics=(MetricSpec("disk.seq_write", "MiB/s", "higher", "fio sequential write, 1 MiB blocks, psync, fsync at end"),
             MetricSpec("disk.rand_read_iops", "IOPS", "higher", "fio random read, 4 KiB blocks, psync, queue depth 1"),
             MetricSpec("disk.rand_read_p99_us", "us", "lower", "fio random read 4 KiB: 99th percentile completion latency")),
    command=fio_command, parse=parse_fio,
    params=lambda s: {"tool": "fio", "seconds": s.seconds, "size_mb": s.fio_size_mb, "direct": s.fio_direct},
    prepare=lambda s: shell.command("mkdir", "-p", s.fio_dir),
    cleanup=lambda s: shell.command("rm", "-f", s.fio_dir.rstrip("/") + "/xch-fio.dat"),
)


# -- iperf3 ------------------------------------------------------------------------------------

def iperf3_command(s: BenchSettings, facts: dict[str, Any]) -> str:
    """A one-off server on 127.0.0.1 and a client against it, in one command; the port is random
    per run so two targets sharing a network namespace (as lab chroots may) do not collide. The
    client is retried briefly because the server needs a moment to listen (longer when emulated);
    iperf3 3.12 exits 0 even when it cannot connect, so the retry looks for its JSON "error"."""
    port = 20000 + secrets.randbelow(40000)
    server = shell.command("iperf3", "-s", "-B", "127.0.0.1", "-p", port, "-1")
    client = shell.command("iperf3", "-c", "127.0.0.1", "-p", port, "-t", s.seconds, "-J")
    return (f"{server} >/dev/null 2>&1 & s=$!; {_retried(client)}; "
            "kill $s 2>/dev/null; wait $s 2>/dev/null; printf '%s\\n' \"$out\"")


def _retried(client: str) -> str:
    """Run an iperf3 client until its output is not an error (10 s at most); the output is left in $out."""
    return (f"out=''; i=0; while [ $i -lt 50 ]; do out=$({client} 2>&1); "
            f"case \"$out\" in *'\"error\"'*) ;; *) break;; esac; i=$((i+1)); sleep 0.2; done")


def parse_iperf3(text: str, metric: str = "net.loopback_tcp") -> dict[str, float]:
    data = _json_output(text, "iperf3")
    if data.get("error"):
        raise ParseError(f"iperf3: {data['error']}")
    try:
        bps = data["end"]["sum_received"]["bits_per_second"]
    except KeyError:
        raise ParseError("iperf3 JSON has no end.sum_received.bits_per_second") from None
    return {metric: float(bps) / 1e9}


# -- iperf3 to a peer target (PERF-NET-002) -------------------------------------------------------

PEER_METRIC = MetricSpec("net.peer_tcp", "Gbit/s", "higher",
                         "iperf3 TCP throughput from the target to a peer target, 1 stream (both network stacks, "
                         "the NICs and the path between them)")


def peer_server_command(address: str, port: int, token: str) -> str:
    """On the peer: a one-off iperf3 server bound to the address the target reaches it by, daemonised,
    with a pid file so it can be killed when the client never came."""
    return shell.command("iperf3", "-s", "-B", address, "-p", port, "-1", "-D", "-I", peer_pidfile(port, token))


def peer_pidfile(port: int, token: str) -> str:
    """Unpredictable (`token` is random), so nobody can plant the file a root shell later reads and kills by."""
    return f"/tmp/xch-iperf3-peer-{port}-{token}.pid"


def peer_stop_command(port: int, token: str) -> str:
    pidfile = shell.quote(peer_pidfile(port, token))
    return f"[ -f {pidfile} ] && kill $(cat {pidfile}) 2>/dev/null; rm -f {pidfile}; true"


def peer_client_command(address: str, port: int, seconds: int) -> str:
    """On the target: the client, retried while the peer's server is still coming up (see iperf3_command)."""
    client = shell.command("iperf3", "-c", address, "-p", port, "-t", seconds, "-J")
    return f"{_retried(client)}; printf '%s\\n' \"$out\""


NETWORK = Benchmark(
    key="net.loopback_tcp", tool="iperf3",
    metrics=(MetricSpec("net.loopback_tcp", "Gbit/s", "higher",
                        "iperf3 TCP throughput over loopback, 1 stream (kernel network stack and memory copies)"),),
    command=iperf3_command, parse=parse_iperf3,
    params=lambda s: {"tool": "iperf3", "seconds": s.seconds, "streams": 1, "peer": "loopback"},
)


# -- stress-ng: process and thread creation ------------------------------------------------------

def parse_stress_ng(text: str, stressor: str) -> float:
    """bogo ops/s (real time) of `stressor` from `--metrics-brief` output."""
    m = re.search(rf"metrc:\s*\[\d+\]\s+{re.escape(stressor)}\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)",
                  text)
    if not m:
        raise ParseError(f"stress-ng {stressor} metrics not found: {text.strip()[-300:]!r}")
    return float(m.group(5))


def _stress(stressor: str) -> Callable[[BenchSettings, dict[str, Any]], str]:
    return lambda s, f: shell.command("stress-ng", f"--{stressor}", 1, "-t", f"{s.seconds}s", "--metrics-brief") + " 2>&1"


PROCESS = Benchmark(
    key="proc.fork", tool="stress-ng",
    metrics=(MetricSpec("proc.fork", "forks/s", "higher", "stress-ng --fork 1: processes created and reaped per second"),),
    command=_stress("fork"), parse=lambda t: {"proc.fork": parse_stress_ng(t, "fork")},
    params=lambda s: {"tool": "stress-ng fork", "seconds": s.seconds, "instances": 1},
)

THREAD = Benchmark(
    key="proc.pthread", tool="stress-ng",
    metrics=(MetricSpec("proc.pthread", "threads/s", "higher", "stress-ng --pthread 1: threads created and joined per second"),),
    command=_stress("pthread"), parse=lambda t: {"proc.pthread": parse_stress_ng(t, "pthread")},
    params=lambda s: {"tool": "stress-ng pthread", "seconds": s.seconds, "instances": 1},
)


def benchmark(key: str, settings: BenchSettings) -> Benchmark:
    """The benchmark named `key`, bound to the settings where its parser needs them."""
    table = {b.key: b for b in (CPU_SINGLE, CPU_MULTI, MEMORY_BANDWIDTH, DISK, NETWORK, PROCESS, THREAD)}
    if key == MEMORY_LATENCY.key:
        return memory_latency(settings)
    return table[key]


ALL_KEYS = ("cpu.single_thread", "cpu.multi_thread", "memory.bandwidth", "memory.random_read", "disk",
            "net.loopback_tcp", "proc.fork", "proc.pthread")
