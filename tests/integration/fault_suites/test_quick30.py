"""Thirty quick checks per target: small real commands, each its own check (QUICK-001..QUICK-030).

Run by benchmarks/fleet.py (and usable by hand: `xch run --suite tests/integration/fault_suites/test_quick30.py`)
to measure what a fleet run costs per check when the checks themselves are cheap, as most
compatibility checks are: read a file, ask a tool its version, compare with the facts. Every
check passes on a stock Debian/openEuler/Kylin userland (coreutils, grep, getconf, a shell);
nothing here changes the target except a temp dir it removes again.
"""

from __future__ import annotations

import re
import time

import pytest

from harness.core import shell

T = 30  # seconds per command: these take milliseconds, but an emulated target can be slow


def out(target, command: str) -> str:
    return target.run(command, timeout=T).check().stdout


@pytest.mark.check("QUICK-001")
def test_os_release_has_id_and_version(target, facts, evidence):
    text = out(target, "cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release")
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    evidence["ID"] = fields.get("ID", "").strip('"')
    assert evidence["ID"] == facts["os_id"]
    assert "VERSION_ID" in fields or "PRETTY_NAME" in fields


@pytest.mark.check("QUICK-002")
def test_kernel_is_linux(target):
    assert out(target, "uname -s").strip() == "Linux"


@pytest.mark.check("QUICK-003")
def test_machine_matches_facts(target, facts):
    assert out(target, "uname -m").strip() == facts["arch"]


@pytest.mark.check("QUICK-004")
def test_kernel_release_matches_facts(target, facts):
    assert out(target, "uname -r").strip() == facts["kernel"]


@pytest.mark.check("QUICK-005")
def test_login_user_is_the_inventory_user(target, evidence):
    name, uid = out(target, "id -un; id -u").split()
    evidence["uid"] = int(uid)
    assert name == target.target.user


@pytest.mark.check("QUICK-006")
def test_hostname_is_set(target, evidence):
    evidence["hostname"] = out(target, "hostname 2>/dev/null || uname -n").strip()
    assert evidence["hostname"]


@pytest.mark.check("QUICK-007")
def test_root_filesystem_has_space(target, evidence):
    line = out(target, "df -Pk /").splitlines()[-1].split()
    evidence["root_avail_kb"] = int(line[3])
    assert int(line[3]) > 0


@pytest.mark.check("QUICK-008")
def test_tmp_is_writable(target):
    path = f"/tmp/xch-quick-{time.monotonic_ns()}"
    out(target, f"touch {shell.quote(path)} && test -w {shell.quote(path)} && rm -f {shell.quote(path)}")


@pytest.mark.check("QUICK-009")
def test_root_account_exists(target):
    assert out(target, "getent passwd root || grep '^root:' /etc/passwd").startswith("root:")


@pytest.mark.check("QUICK-010")
def test_bin_sh_is_executable(target):
    out(target, "test -x /bin/sh")


@pytest.mark.check("QUICK-011", level="optional")
def test_clock_is_close_to_the_controllers(target, evidence):
    before = time.time()
    remote = int(out(target, "date +%s"))
    evidence["skew_s"] = round(remote - (before + time.time()) / 2, 1)
    assert abs(evidence["skew_s"]) < 300, "target clock is more than 5 minutes off: certificates and logs will lie"


@pytest.mark.check("QUICK-012")
def test_meminfo_reports_memory(target, facts):
    kb = int(out(target, "awk '/^MemTotal:/ {print $2}' /proc/meminfo"))
    assert kb // 1024 == facts["mem_total_mb"]


@pytest.mark.check("QUICK-013")
def test_cpus_online(target, facts):
    assert int(out(target, "getconf _NPROCESSORS_ONLN")) >= 1


@pytest.mark.check("QUICK-014")
def test_page_size_is_a_known_one(target, facts):
    size = int(out(target, "getconf PAGESIZE"))
    assert size == facts["page_size"] and size in (4096, 16384, 65536)


@pytest.mark.check("QUICK-015")
def test_glibc_version_matches_facts(target, facts):
    assert out(target, "getconf GNU_LIBC_VERSION").split()[-1] == facts["glibc"]


@pytest.mark.check("QUICK-016")
def test_path_has_usr_bin(target):
    assert "/usr/bin" in out(target, "echo \"$PATH\"").strip().split(":")


@pytest.mark.check("QUICK-017")
def test_utf8_passes_through_unchanged(target):
    text = "信创 兼容性"
    assert out(target, shell.command("printf", "%s", text)) == text
    assert out(target, shell.command("printf", "%s", text) + " | wc -c").strip() == str(len(text.encode()))


@pytest.mark.check("QUICK-018")
def test_sha256sum_agrees_with_python(target):
    import hashlib

    digest = out(target, "printf xch | sha256sum").split()[0]
    assert digest == hashlib.sha256(b"xch").hexdigest()


@pytest.mark.check("QUICK-019")
def test_dev_null_is_a_character_device(target):
    out(target, "test -c /dev/null && test -c /dev/zero && test -c /dev/urandom")


@pytest.mark.check("QUICK-020")
def test_bin_sh_is_a_listed_shell(target):
    assert "/bin/sh" in out(target, "cat /etc/shells").split()


@pytest.mark.check("QUICK-021", level="optional")
def test_umask_is_an_octal_mask(target, evidence):
    evidence["umask"] = out(target, "umask").strip()
    assert re.fullmatch(r"0?[0-7]{3}", evidence["umask"])


@pytest.mark.check("QUICK-022", level="optional")
def test_open_files_limit(target, evidence):
    value = out(target, "ulimit -n").strip()
    evidence["nofile"] = value
    assert value == "unlimited" or int(value) >= 1024


@pytest.mark.check("QUICK-023")
def test_procfs_is_mounted(target):
    assert "Pid:" in out(target, "cat /proc/self/status")


@pytest.mark.check("QUICK-024")
def test_uptime_is_positive(target):
    assert float(out(target, "cat /proc/uptime").split()[0]) > 0


@pytest.mark.check("QUICK-025")
def test_package_manager_is_on_path(target, facts):
    assert out(target, shell.command("command", "-v", facts["pkg_manager"])).strip()


@pytest.mark.check("QUICK-026")
def test_libc_package_is_installed(target, facts, evidence):
    if facts["pkg_manager"] == "apt-get":
        version = out(target, "dpkg-query -W -f='${Version}' libc6")
    elif facts["pkg_manager"] in ("dnf", "yum", "zypper"):
        version = out(target, "rpm -q --qf '%{VERSION}' glibc")
    else:
        pytest.skip(f"no package query for {facts['pkg_manager']}")
    evidence["libc_package"] = version
    assert version.startswith(facts["glibc"])


@pytest.mark.check("QUICK-027")
def test_stdout_and_stderr_stay_apart(target):
    result = target.run("echo to-out; echo to-err >&2", timeout=T).check()
    assert (result.stdout, result.stderr) == ("to-out\n", "to-err\n")


@pytest.mark.check("QUICK-028")
def test_exit_status_is_reported(target):
    result = target.run("exit 3", timeout=T)
    assert result.rc == 3 and not result.timed_out


@pytest.mark.check("QUICK-029")
def test_ten_thousand_lines_arrive_complete(target):
    lines = out(target, "seq 1 10000").splitlines()
    assert len(lines) == 10000 and lines[-1] == "10000"


@pytest.mark.check("QUICK-030")
def test_tar_round_trip_in_a_temp_dir(target):
    tmp = out(target, "mktemp -d /tmp/xch-quick.XXXXXX").strip()
    q = shell.quote(tmp)
    try:
        listing = out(target, f"cd {q} && echo data > a && tar cf b.tar a && rm a && tar xf b.tar && cat a && tar tf b.tar")
        assert listing.split() == ["data", "a"]
    finally:
        target.run(shell.command("rm", "-rf", tmp), timeout=T)
