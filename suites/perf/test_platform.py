"""Platform micro-benchmarks (PERF-CPU/MEM/DISK/NET/PROC) and resource fluctuation (PERF-RES).

PERF-NET-002 measures the network between the target and a peer (the live baseline).

Each check measures one benchmark on the target, interleaved with the live baseline when the run
has one (`--baseline role=baseline`), or compares with a stored run (`--baseline-run DIR`). The
figures characterise the platform; their limits in whitelist/perf-criteria.toml are not mandatory
by default. On an emulated target (facts emulation = qemu-user) the timings are emulation.
"""

from __future__ import annotations

import pytest

from harness.core import shell
from harness.perf import micro
from harness.perf.sampler import Sampler, resource_metrics


def _bench(perf, key: str) -> None:
    perf.run_benchmark(micro.benchmark(key, perf.criteria.bench))
    perf.conclude()


@pytest.mark.check("PERF-CPU-001", level="optional")
def test_cpu_single_thread(perf):
    _bench(perf, "cpu.single_thread")


@pytest.mark.check("PERF-CPU-002", level="optional")
def test_cpu_multi_thread(perf):
    _bench(perf, "cpu.multi_thread")


@pytest.mark.check("PERF-MEM-001", level="optional")
def test_memory_bandwidth(perf):
    _bench(perf, "memory.bandwidth")


@pytest.mark.check("PERF-MEM-002", level="optional")
def test_memory_random_read(perf):
    _bench(perf, "memory.random_read")


@pytest.mark.check("PERF-DISK-001", level="optional")
def test_disk_io(perf):
    _bench(perf, "disk")


@pytest.mark.check("PERF-NET-001", level="optional")
def test_network_loopback(perf):
    _bench(perf, "net.loopback_tcp")


@pytest.mark.check("PERF-NET-002", level="optional")
def test_network_to_peer(perf, target):
    """TCP throughput from the target to a peer target: the live baseline, at its inventory label
    `address` (the address the target reaches it by) or else its host. Skipped without a live baseline
    and on the baseline itself. On the built-in lab the path is loopback between the two chroots."""
    peer = perf.live_baseline
    if peer is None:
        pytest.skip("needs a peer: run with a live --baseline SEL (the baseline target is the peer)")
    inventory_target = peer.conn.target
    perf.run_peer_network(inventory_target.labels.get("address") or inventory_target.host)
    perf.conclude()


@pytest.mark.check("PERF-PROC-001", level="optional")
def test_process_creation(perf):
    _bench(perf, "proc.fork")


@pytest.mark.check("PERF-PROC-002", level="optional")
def test_thread_creation(perf):
    _bench(perf, "proc.pthread")


@pytest.mark.check("PERF-RES-001", level="optional")
def test_resource_fluctuation_under_steady_load(perf, target, evidence):
    """One CPU busy with stress-ng for [benchmarks] resource_seconds while /proc is sampled: how
    steady CPU, memory, disk and network readings stay (the Kunpeng tester asks for < 5 %)."""
    settings = perf.criteria.bench
    perf.require_tool("stress-ng")
    sampler = Sampler(target, settings.resource_interval_s)
    with perf.lock([target.name]):
        sampler.start()
        try:
            run = target.run(shell.command("stress-ng", "--cpu", 1, "-t", f"{settings.resource_seconds}s") + " 2>&1",
                             timeout=settings.resource_seconds + 120)
        finally:
            series = sampler.stop()
    run.check()
    evidence["load"] = f"stress-ng --cpu 1 for {settings.resource_seconds}s"
    for record in resource_metrics(series):
        record["kind"] = "platform-resource"  # here the readings are the subject, not context
        perf.add_metric(record)
    if not perf.metrics:
        pytest.fail("no resource reading could be sampled from /proc", pytrace=False)
    perf.conclude()
