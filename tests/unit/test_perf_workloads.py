"""The [[workloads]] schema of product.toml, metric extraction, [perf.service], and /proc sampling."""

from __future__ import annotations

import pytest

from harness.core.errors import InputError
from harness.perf import sampler
from harness.perf.check import run_span, timed_command
from harness.perf.workloads import ExtractError, json_path_get, load_service_config, load_workloads

GOOD = '''
[product]
name = "Redis"

[[workloads]]
name = "set-get"
command = "redis-benchmark -q -n 20000 -t set,get --csv"
setup = "service redis-server start"

[[workloads.metrics]]
name = "set_rps"
regex = '"SET","(?P<value>[0-9.]+)"'
unit = "req/s"
direction = "higher"

[[workloads.metrics]]
name = "elapsed"
elapsed = true
unit = "s"
direction = "lower"

[[workloads]]
name = "iperf"
command = "iperf3 -c 127.0.0.1 -J"
timeout = 30

[[workloads.metrics]]
name = "gbit"
json_path = "end.streams[0].receiver.bits_per_second"
scale = 1e-9
unit = "Gbit/s"
direction = "higher"

[perf.service]
probe = "redis-cli ping"
expect_output = "PONG"
kill = "pkill -9 -x redis-server"
'''


def write(tmp_path, text):
    (tmp_path / "product.toml").write_text(text)
    return tmp_path


def test_good_manifest(tmp_path):
    folder = write(tmp_path, GOOD)
    wl = load_workloads(folder)
    assert [w.name for w in wl] == ["set-get", "iperf"]
    setget, iperf = wl
    assert setget.setup == "service redis-server start" and setget.timeout == 600 and iperf.timeout == 30
    assert [s.name for s in setget.specs()] == ["workload.set-get.set_rps", "workload.set-get.elapsed"]
    out = setget.extract_all('"test","rps"\n"SET","51282.05"\n"GET","52083.33"\n', elapsed=0.9)
    assert out == {"workload.set-get.set_rps": 51282.05, "workload.set-get.elapsed": 0.9}
    gbit = iperf.extract_all('{"end": {"streams": [{"receiver": {"bits_per_second": 2.5e10}}]}}', 1.0)
    assert gbit == {"workload.iperf.gbit": pytest.approx(25.0)}
    svc = load_service_config(folder)
    assert svc.probe == "redis-cli ping" and svc.expect_output == "PONG" and svc.load == ""


def test_every_problem_is_named_with_file_and_field(tmp_path):
    bad = '''
[[workloads]]
name = "bad name!"
timeout = -1
extra = 1
[[workloads.metrics]]
name = "m"
unit = "s"
direction = "up"
regex = "("
json_path = "a.b"

[[workloads]]
name = "nometrics"
command = "true"
'''
    with pytest.raises(InputError) as err:
        load_workloads(write(tmp_path, bad))
    text = err.value.message
    for piece in ("product.toml", "workloads[0]", "'name'", "'command'", "'timeout'", "'extra'", "'direction'",
                  "exactly one of regex, json_path or elapsed", "not a valid regular expression",
                  "workloads[1] (nometrics)", "[[workloads.metrics]]"):
        assert piece in text, piece


def test_no_workloads_and_missing_manifest(tmp_path):
    assert load_workloads(write(tmp_path, '[product]\nname = "x"\n')) == []
    assert load_service_config(tmp_path) is None
    with pytest.raises(InputError, match="no such product manifest"):
        load_workloads(tmp_path / "nowhere")


def test_extraction_failures_blame_the_output(tmp_path):
    setget = load_workloads(write(tmp_path, GOOD))[0]
    with pytest.raises(ExtractError, match="does not match"):
        setget.extract_all("ERROR: connection refused", 1.0)
    with pytest.raises(ExtractError, match="not found"):
        json_path_get({"a": [1]}, "a[3]", "m")
    assert json_path_get({"a": [{"b": 2}]}, "$.a[0].b") == 2


def test_bad_service_table(tmp_path):
    with pytest.raises(InputError, match=r"\[perf.service\].probe: missing; expected the health-probe command"):
        load_service_config(write(tmp_path, '[perf.service]\nkill = "pkill x"\n'))


def test_timed_command_brackets_the_run_with_uptime():
    cmd = timed_command("echo 'hi'; exit 3")
    assert "eval 'echo '\"'\"'hi'\"'\"'; exit 3'" in cmd
    assert run_span("noise\n@@XCH_T0 100.25\nmore\n@@XCH_T1 101.50\n") == (100.25, 101.5)
    assert run_span("no markers") is None


SAMPLES = """T 1000.00
cpu  100 0 100 800 0 0 0 0 0 0
MemTotal: 2048000
MemAvailable: 1024000
N Inter-|   Receive                                                |  Transmit
N  face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
N     lo: 1000 10 0 0 0 0 0 0 1000 10 0 0 0 0 0 0
D  253       0 vda 100 0 2000 0 50 0 1000 0 0 0 0
D  253       1 vda1 100 0 2000 0 50 0 1000 0 0 0 0
T 1001.00
cpu  150 0 150 900 0 0 0 0 0 0
MemTotal: 2048000
MemAvailable: 512000
N     lo: 3000001 10 0 0 0 0 0 0 3000001 10 0 0 0 0 0 0
D  253       0 vda 100 0 4000 0 50 0 3000 0 0 0 0
T 1002.00
cpu  150 0 1"""


def test_proc_snapshots_to_readings():
    snaps = sampler.parse_snapshots(SAMPLES)
    assert len(snaps) == 2  # the torn last block is dropped
    r = sampler.readings(snaps)
    assert r["cpu_util_pct"] == [pytest.approx(50.0)]  # 100 busy of 200 jiffies
    assert r["mem_used_mb"] == [pytest.approx(1500.0)]
    assert r["net_mb_s"] == [pytest.approx(5.998002)]
    assert r["disk_mb_s"] == [pytest.approx(4000 * 512 / 1e6)]  # whole disk only, partition ignored
    assert sampler.readings(snaps, windows=[(2000.0, 2001.0)])["cpu_util_pct"] == []
    records = sampler.resource_metrics(r)
    cpu = next(m for m in records if m["name"] == "resource.cpu_util_pct")
    assert cpu["fluctuation"] == 0.0 and cpu["baseline"] is None and cpu["kind"] == "resource"


@pytest.mark.parametrize("field, value, expected", [
    ("timeout", "inf", "field 'timeout' must be a positive number of seconds up to 604800, got inf"),
    ("timeout", "nan", "field 'timeout' must be a positive number of seconds up to 604800, got nan"),
    ("scale", "nan", "metrics[0]: field 'scale' must be a positive number, got nan"),
    ("scale", "inf", "metrics[0]: field 'scale' must be a positive number, got inf"),
])
def test_workload_numbers_are_finite(tmp_path, field, value, expected):
    workload = f'[[workloads]]\nname = "w"\ncommand = "true"\n{field + " = " + value if field == "timeout" else ""}\n'
    metric = '[[workloads.metrics]]\nname = "m"\nunit = "s"\ndirection = "lower"\nelapsed = true\n'
    text = workload + metric + (f"{field} = {value}\n" if field == "scale" else "")
    with pytest.raises(InputError) as info:
        load_workloads(write(tmp_path, text))
    assert expected in info.value.message
