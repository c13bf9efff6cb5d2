"""Performance measurement on targets: platform micro-benchmarks, product workloads, service levels.

Modules, one job each:
- `criteria`  loads whitelist/perf-criteria.toml (measuring plan, benchmark sizes, limits per metric)
              and turns a measured metric into a verdict: passed / failed / inconclusive / measured;
- `tools`     finds or installs sysbench, fio, iperf3, stress-ng with the target's package manager;
- `micro`     the platform micro-benchmarks: the command each runs and the parser of its output;
- `workloads` the `[[workloads]]` schema of product.toml and the runner of one workload;
- `sampler`   samples /proc (CPU, memory, disk, network) on a target while something runs;
- `service`   health-probe response time under load, availability, recovery after a kill;
- `baseline`  where the baseline comes from: another target now (interleaved) or a stored run;
- `check`     `PerfCheck`, what a PERF-... check uses: measure, compare, record, conclude;
- `plugin`    the pytest options (--baseline, --baseline-run, --perf-criteria) and fixtures.

Statistics live in `harness.perf.stats` (pure functions).
"""

EMULATION_NOTE = ("timings from {kind} emulation, not silicon / 该目标的时间数据来自 {kind} 仿真，不代表实机性能")

EMULATION_KIND = {"qemu-user": "qemu-user", "tcg": "qemu TCG (full-system)"}
