"""Transport pieces that need no target: output framing, bounded collection, the local transport."""

from __future__ import annotations

import subprocess
import time

import pytest

from harness.core import shell
from harness.inventory import Target
from harness.transport.base import CommandFailed, CommandTimeout, RunResult
from harness.transport.local import LocalConnection
from harness.transport.ssh import _Collector


def test_collector_finds_a_marker_split_across_reads():
    marker = shell.end_marker("abcd").encode()
    c = _Collector(marker, limit=1000, needs_line=True)
    data = b"hello world" + marker + b"7\n"
    for i in range(0, len(data), 3):
        c.feed(data[i:i + 3])
    assert c.done and c.text() == "hello world" and c.exit_code() == 7


def test_collector_bounds_output_and_marks_truncation():
    marker = shell.end_marker("ffff").encode()
    c = _Collector(marker, limit=100, needs_line=False)
    for _ in range(1000):
        c.feed(b"x" * 1000)
    c.feed(marker)
    assert c.done and c.dropped == 1_000_000 - 100
    assert c.text().startswith("x" * 100) and "output truncated, 999900 bytes dropped" in c.text()
    assert len(c.head) == 100


def test_framed_command_runs_in_a_real_shell_and_keeps_streams_apart():
    """The framing text itself, driven through a real /bin/sh (dash) exactly as the SSH transport does."""
    nonce = "0123456789abcdef"
    script = (shell.session_init("/tmp/xch-unit.pid", "READY") + shell.framed_command("echo out; echo err >&2; cd /; exit 4", nonce)
              + shell.framed_command("pwd", nonce))
    proc = subprocess.run(["/bin/sh"], input=script.encode(), capture_output=True, cwd="/tmp", timeout=10)
    marker = shell.end_marker(nonce)
    out = proc.stdout.decode()
    assert out == f"READY\nout\n{marker}4\n/tmp\n{marker}0\n"  # the `cd /` did not leak into the next command
    assert proc.stderr.decode() == f"err\n{marker}{marker}"


def test_framed_command_survives_syntax_errors_and_hostile_text():
    nonce = "feedfacefeedface"
    hostile = "echo 'unterminated; $(touch /tmp/xch-pwned) `reboot`"
    script = shell.framed_command(hostile, nonce) + shell.framed_command("echo still-alive", nonce)
    proc = subprocess.run(["/bin/sh"], input=script.encode(), capture_output=True, timeout=10)
    assert "still-alive" in proc.stdout.decode()


def test_runresult_check():
    ok = RunResult("true", 0, "", "", 0.01)
    assert ok.check() is ok
    with pytest.raises(CommandFailed, match="exited 2"):
        RunResult("false", 2, "", "why", 0.01, target="t").check()
    assert RunResult("x", 3, "", "", 0.0).check(expect_rc=(0, 3)).rc == 3
    with pytest.raises(CommandTimeout):
        RunResult("sleep", 137, "", "", 5.0, timed_out=True).check()
    assert not isinstance(CommandTimeout(RunResult("s", 1, "", "", 1, True)), AssertionError)


@pytest.fixture
def local():
    return LocalConnection(Target(name="controller", transport="local", host="localhost"), output_limit=1000)


def test_local_transport_result_fields(local):
    r = local.run("echo hi; echo oops >&2; exit 5")
    assert (r.rc, r.stdout, r.stderr, r.timed_out) == (5, "hi\n", "oops\n", False)
    assert local.run("printf '\\377'").stdout == "\ufffd"


def unique_seconds(base: int) -> str:
    """A sleep duration no other process on this shared host uses, so pgrep finds only ours."""
    import secrets

    return f"{base}.{secrets.randbelow(10**6):06d}"


def test_local_transport_timeout_kills_the_whole_tree(local):
    a, b = unique_seconds(60), unique_seconds(61)
    started = time.monotonic()
    r = local.run(f"sleep {a} & sleep {b}; echo never", timeout=0.5)
    assert r.timed_out and "never" not in r.stdout
    assert time.monotonic() - started < 30
    for duration in (a, b):
        leftovers = subprocess.run(["pgrep", "-f", f"sleep {duration}"], capture_output=True)
        assert leftovers.stdout == b"", f"sleep {duration} survived the timeout"


def test_local_transport_bounds_output(local):
    r = local.run("head -c 100000 /dev/zero")
    assert r.truncated and "bytes dropped" in r.stdout and len(r.stdout) < 2000


def test_target_in_nodeid_handles_dashes_and_other_params():
    from harness.plugin import target_in_nodeid

    names = ["lab-x86", "lab", "lab-x86-2"]
    assert target_in_nodeid("s/t.py::test_a[lab-x86]", names) == "lab-x86"
    assert target_in_nodeid("s/t.py::test_a[lab-x86-2]", names) == "lab-x86-2"
    assert target_in_nodeid("s/t.py::test_a[lab-x86-3]", names) == "lab-x86"  # target then step 3
    assert target_in_nodeid("s/t.py::test_ping[lab-x86-lab-arm64]", names + ["lab-arm64"]) == "lab-x86"
    assert target_in_nodeid("s/t.py::test_a[3-lab]", names) is None  # the target id always comes first
    assert target_in_nodeid("s/t.py::test_a", names) is None


def test_masker_masks_long_secrets_everywhere_and_short_ones_as_words():
    from harness.transport.commandlog import MASK, Masker

    mask = Masker(["hunter22", "pw"])
    assert mask("login hunter22 ok; xhunter22x") == f"login {MASK} ok; x{MASK}x"
    assert mask("password: pw") == f"password: {MASK}"
    assert mask("upward pwd") == "upward pwd"  # a short secret is not cut out of other words


def test_local_transport_returns_when_the_command_exits_not_when_its_children_do(local):
    duration = unique_seconds(30)
    r = local.run(f"sleep {duration} & echo started", timeout=10)
    assert (r.rc, r.stdout, r.timed_out) == (0, "started\n", False) and r.elapsed < 9
    subprocess.run(["pkill", "-f", f"^sleep {duration}$"], check=False)  # only ours: a unique duration


def test_local_transport_timeout_holds_after_the_pipes_close(local):
    r = local.run("exec 1>&- 2>&-; sleep 4; exit 7", timeout=1)
    assert r.timed_out and r.elapsed < 3.5
