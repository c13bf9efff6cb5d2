"""Parsers of the benchmark tools, against output captured on the lab (lab-arm64 = Debian 12 arm64
under qemu-user; lab-x86 = Debian 12 amd64): sysbench 1.0.20, fio 3.33, iperf 3.12, stress-ng 0.15.06."""

from __future__ import annotations

import pytest

from harness.perf import micro
from harness.perf.criteria import BenchSettings

SYSBENCH_CPU_X86 = """sysbench 1.0.20 (using system LuaJIT 2.1.0-beta3)

Running the test with following options:
Number of threads: 1
Initializing random number generator from current time


Prime numbers limit: 10000

Initializing worker threads...

Threads started!

CPU speed:
    events per second:  4308.87

General statistics:
    total time:                          1.0020s
    total number of events:              4320

Latency (ms):
         min:                                    0.22
         avg:                                    0.23
         max:                                    4.42
         95th percentile:                        0.24
         sum:                                  998.13
"""

SYSBENCH_MEMORY_ARM = """Running memory speed test with the following options:
  block size: 1024KiB
  total size: 102400MiB
  operation: write
  scope: global

Initializing worker threads...

Threads started!

Total operations: 8687 ( 8646.01 per second)

8687.00 MiB transferred (8646.01 MiB/sec)


General statistics:
    total time:                          1.0017s
    total number of events:              8687
"""

SYSBENCH_MEMORY_RND_X86 = """Total operations: 24 (   23.62 per second)

384.00 MiB transferred (377.93 MiB/sec)


General statistics:
    total time:                          1.0160s
    total number of events:              24

Latency (ms):
         min:                                   41.61
         avg:                                   42.27
"""

STRESS_FORK_ARM = """stress-ng: info:  [22512] setting to a 1 second run per stressor
stress-ng: info:  [22512] dispatching hogs: 1 fork
stress-ng: metrc: [22512] stressor       bogo ops real time  usr time  sys time   bogo ops/s     bogo ops/s
stress-ng: metrc: [22512]                           (secs)    (secs)    (secs)   (real time) (usr+sys time)
stress-ng: metrc: [22512] fork                811      1.00      0.61      0.39       810.63         817.50
stress-ng: info:  [22512] successful run completed in 1.01s
"""

STRESS_PTHREAD_X86 = """stress-ng: metrc: [27235] stressor       bogo ops real time  usr time  sys time   bogo ops/s     bogo ops/s
stress-ng: metrc: [27235]                           (secs)    (secs)    (secs)   (real time) (usr+sys time)
stress-ng: metrc: [27235] pthread            5120      1.17      0.06      1.30      4369.68        3767.45
stress-ng: metrc: [27235] miscellaneous metrics:
stress-ng: metrc: [27235] pthread           106623.73 nanosecs to start a pthread (geometic mean of 1 instances)
"""

FIO_ARM = """{
 "fio version": "fio-3.33",
 "jobs": [
  {
   "jobname": "seqwrite",
   "error": 0,
   "job options": {
    "name": "seqwrite",
    "directory": "/var/tmp/xchp",
    "filename": "xch-fio.dat",
    "size": "32M",
    "bs": "1M",
    "rw": "write",
    "ioengine": "psync",
    "direct": "1",
    "runtime": "1",
    "end_fsync": "1"
   },
   "read": {
    "io_bytes": 0,
    "bw_bytes": 0,
    "iops": 0.0,
    "clat_ns": {
     "mean": 0.0
    }
   },
   "write": {
    "io_bytes": 2946498560,
    "bw_bytes": 2940617325,
    "iops": 2804.391218,
    "clat_ns": {
     "mean": 300843.012811,
     "percentile": {
      "50.000000": 288768,
      "99.000000": 497664
     }
    }
   }
  },
  {
   "jobname": "randread",
   "error": 0,
   "job options": {
    "name": "randread",
    "filename": "xch-fio.dat",
    "size": "32M",
    "bs": "4k",
    "rw": "randread",
    "ioengine": "psync",
    "direct": "1",
    "runtime": "1"
   },
   "read": {
    "io_bytes": 53227520,
    "bw_bytes": 53174345,
    "iops": 12982.017982,
    "clat_ns": {
     "mean": 71316.118199,
     "percentile": {
      "50.000000": 66048,
      "99.000000": 144384
     }
    }
   },
   "write": {
    "io_bytes": 0,
    "bw_bytes": 0,
    "iops": 0.0,
    "clat_ns": {
     "mean": 0.0
    }
   }
  }
 ]
}"""

IPERF3_ARM = """{
 "start": {
  "version": "iperf 3.12"
 },
 "end": {
  "sum_sent": {
   "bytes": 2498232320,
   "bits_per_second": 19907205192.28528
  },
  "sum_received": {
   "bytes": 2492203008,
   "bits_per_second": 19775190648.01719
  }
 }
}"""

IPERF3_REFUSED = """{
	"start":	{"connected":	[], "version":	"iperf 3.12"},
	"intervals":	[],
	"end":	{},
	"error":	"unable to connect to server: Connection refused"
}"""


def test_sysbench_cpu_and_memory():
    assert micro.CPU_SINGLE.parse(SYSBENCH_CPU_X86) == {"cpu.single_thread": 4308.87}
    assert micro.MEMORY_BANDWIDTH.parse(SYSBENCH_MEMORY_ARM) == {"memory.bandwidth": 8646.01}


def test_sysbench_random_read_time_per_word():
    bench = micro.benchmark("memory.random_read", BenchSettings(memory_random_block_mb=16))
    ns = bench.parse(SYSBENCH_MEMORY_RND_X86)["memory.random_read_ns"]
    # 24 events x 2 Mi reads of 8 bytes in 1.016 s
    assert ns == pytest.approx(1.016e9 / (24 * 16 * 2**20 / 8))


def test_stress_ng_bogo_ops_per_second_real_time():
    assert micro.PROCESS.parse(STRESS_FORK_ARM) == {"proc.fork": 810.63}
    assert micro.THREAD.parse(STRESS_PTHREAD_X86) == {"proc.pthread": 4369.68}


def test_fio_json():
    out = micro.parse_fio(FIO_ARM)
    assert out["disk.seq_write"] == pytest.approx(2940617325 / 2**20)
    assert out["disk.rand_read_iops"] == pytest.approx(12982.017982)
    assert out["disk.rand_read_p99_us"] == pytest.approx(144.384)


def test_iperf3_json_and_its_error_form():
    assert micro.parse_iperf3("warning first\n" + IPERF3_ARM) == {"net.loopback_tcp": pytest.approx(19.77519064801719)}
    with pytest.raises(micro.ParseError, match="Connection refused"):
        micro.parse_iperf3(IPERF3_REFUSED)


@pytest.mark.parametrize("parse, text", [
    (micro.CPU_SINGLE.parse, "sysbench: command not found"),
    (micro.PROCESS.parse, "stress-ng: error: no such stressor"),
    (micro.parse_fio, "fio: looks like your file system does not support direct=1"),
    (micro.parse_fio, '{"jobs": [{"jobname": "seqwrite", "error": 5}]}'),
])
def test_unexpected_output_is_a_parse_error(parse, text):
    with pytest.raises(micro.ParseError):
        parse(text)


def test_commands_quote_settings_and_scale_threads_to_the_target():
    s = BenchSettings(fio_dir="/var/tmp/my dir; rm -rf /", seconds=2)
    cmd = micro.fio_command(s, {})
    assert "'--filename=/var/tmp/my dir; rm -rf /xch-fio.dat'" in cmd and "--runtime=2" in cmd
    assert "--threads=8" in micro.CPU_MULTI.command(s, {"cores": 8})
    assert "--threads=1" in micro.CPU_MULTI.command(s, {"cores": None})
    a, b = micro.iperf3_command(s, {}), micro.iperf3_command(s, {})
    assert "-J" in a and a != b  # a fresh port per run
