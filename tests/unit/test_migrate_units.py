"""Migration assessment and parity logic on real collected text (fixtures from the lab) and small inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.errors import InputError
from harness.facts.gather import parse_sections
from harness.migrate.assess import assess_snapshots
from harness.migrate.collect import collect_script, parse_cron, parse_proc_net_tcp, parse_ss, snapshot_from_sections
from harness.migrate.parity import ParityCheck, Side, compare_sides, load_parity, normalise, side_by_side
from harness.migrate.probe import parse_apt_policy, parse_repoquery
from harness.migrate.versions import compare_debian, compare_rpm

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "scan" / "migrate"


def snapshot(name: str, arch: str):
    text = (FIX / f"collect.{name}.debian12.txt").read_text()
    facts = {"arch": arch, "os_id": "debian", "os_version": "12", "os_name": "Debian GNU/Linux", "glibc": "2.36",
             "kernel": "6.18.44"}
    return snapshot_from_sections(name, parse_sections(text), facts)


def test_snapshot_from_real_collection():
    snap = snapshot("lab-arm64", "aarch64")
    assert snap.family == "deb" and len(snap.packages) > 150
    assert snap.packages["libc6"]["arch"] == "arm64" and snap.packages["libc6"]["version"].startswith("2.36-9")
    assert "ssh" in snap.services and snap.service_owner["ssh"] == "openssh-server"
    assert not snap.systemd and "ssh" in snap.service_files
    assert {"proto": "tcp", "address": "127.0.0.2", "port": 2201, "process": "sshd"} in snap.ports
    e2 = [j for j in snap.cron if j["file"] == "/etc/cron.d/e2scrub_all"]
    assert e2 and e2[0]["command"].startswith("test -e /run/systemd/system")
    assert snap.configs["/etc/ssh/sshd_config"] and len(snap.configs["/etc/ssh/sshd_config"]) == 64


def test_collect_script_quotes_odd_config_paths():
    script = collect_script(["/etc/app/x.conf", "/etc/a b;rm -rf /"])
    assert "/etc/app/x.conf" in script and "'/etc/a b;rm -rf /'" in script


def test_ss_and_proc_net_tcp():
    assert parse_ss('tcp LISTEN 0 128 0.0.0.0:11211 0.0.0.0:* users:(("memcached",pid=7,fd=26))\n'
                    "udp UNCONN 0 0 [::]:123 [::]:*\n") == [
        {"proto": "tcp", "address": "0.0.0.0", "port": 11211, "process": "memcached"},
        {"proto": "udp", "address": "::", "port": 123, "process": ""}]
    text = ("  sl  local_address rem_address   st\n"
            "   0: 0100007F:2BCB 00000000:0000 0A 00000000:00000000\n"
            "   1: 0100007F:2BCC 0100007F:9C40 01 00000000:00000000\n")
    assert parse_proc_net_tcp(text) == [{"proto": "tcp", "address": "127.0.0.1", "port": 11211, "process": ""}]


def test_cron_lines():
    jobs = parse_cron("/etc/crontab\tSHELL=/bin/sh\n/etc/crontab\t17 * * * * root cd / && run-parts /etc/cron.hourly\n"
                      "/var/spool/cron/crontabs/app\t@reboot /opt/app/bin/start --quiet\n")
    assert [j["command"] for j in jobs] == ["cd / && run-parts /etc/cron.hourly", "/opt/app/bin/start --quiet"]


def test_apt_policy_and_repoquery():
    policy = parse_apt_policy((FIX / "apt-cache-policy.lab-arm64.txt").read_text())
    assert policy["cpuid"] == {"installed": "", "candidate": ""}
    assert policy["memcached"] == {"installed": "1.6.18-1+deb12u1", "candidate": "1.6.18-1+deb12u1"}
    assert "nosuchpkg" not in policy and policy["bash"]["installed"] == policy["bash"]["candidate"]
    rq = parse_repoquery("glibc\t0:2.34-100.oe2203\taarch64\nglibc\t0:2.34-99.oe2203\taarch64\n")
    assert rq == {"glibc": {"installed": "", "candidate": "2.34-100.oe2203"}}


@pytest.mark.parametrize("a,b,expected", [
    ("1.0~rc1", "1.0", -1), ("1:0.9", "2.0", 1), ("2.36-9+deb12u4", "2.36-9+deb12u10", -1),
    ("1.6.18-1", "1.6.18-1+b1", -1), ("1.0a", "1.0", 1), ("1.01", "1.1", 0)])
def test_debian_versions(a, b, expected):
    assert compare_debian(a, b) == expected and compare_debian(b, a) == -expected


@pytest.mark.parametrize("a,b,expected", [
    ("2.28-36.oe1", "2.34-1.oe2203", -1), ("1.0~rc1-1", "1.0-1", -1), ("1.10-1", "1.9-1", 1), ("1:1.0-1", "2.0-1", 1)])
def test_rpm_versions(a, b, expected):
    assert compare_rpm(a, b) == expected and compare_rpm(b, a) == -expected


def test_assessment_of_real_snapshots_with_a_missing_package_and_local_service():
    src, dst = snapshot("lab-x86", "x86_64"), snapshot("lab-arm64", "aarch64")
    src.packages["cpuid"] = {"version": "20230120-1", "arch": "amd64"}
    src.packages["linux-image-6.1.0-13-amd64"] = {"version": "6.1.55-1", "arch": "amd64"}
    src.services.append("legacy-billing")
    src.configs["/etc/legacy.conf"] = "0" * 64
    candidates = {name: {"installed": "", "candidate": info["version"]} for name, info in src.packages.items()
                  if name not in ("cpuid",)}
    candidates["bash"]["candidate"] = "1.0"  # pretend the target only has an ancient bash
    result = assess_snapshots(src, dst, candidates, exists={}, commands={"sshd": True})
    blockers = {(b["area"], b["item"]) for b in result["blockers"]}
    assert ("packages", "cpuid") in blockers and ("services", "legacy-billing") in blockers
    assert ("packages", "linux-image-6.1.0-13-amd64") not in blockers  # platform package: info
    warnings = {(w["area"], w["item"]) for w in result["warnings"]}
    assert ("packages", "bash") in warnings and ("configs", "/etc/legacy.conf") in warnings
    assert not result["ready"] and 0 < result["score"] < 100
    assert result["areas"]["packages"]["blocker"] == 1
    assert [i for i in result["platform"] if i["item"] == "arch"][0]["status"] == "info"


def test_assessment_glibc_older_on_target_is_blocker():
    src, dst = snapshot("lab-x86", "x86_64"), snapshot("lab-arm64", "aarch64")
    src.facts["glibc"], dst.facts["glibc"] = "2.34", "2.28"
    result = assess_snapshots(src, dst, {n: {"candidate": i["version"]} for n, i in src.packages.items()}, {}, {})
    assert ("platform", "glibc") in {(b["area"], b["item"]) for b in result["blockers"]}


# -- parity ------------------------------------------------------------------------------------

def test_parity_file_errors_name_file_check_and_field(tmp_path):
    bad = tmp_path / "p.toml"
    bad.write_text('source = "lab-x86"\nbogus = 1\n[[check]]\nid = "A"\nrun = "true"\nnormalise = ["arhc"]\n'
                   'compare = ["exit"]\n[[check]]\nid = "A"\nrun = "x"\n[[check]]\nid = "bad id"\nrun = "y"\n')
    with pytest.raises(InputError) as info:
        load_parity(bad)
    text = info.value.message
    assert "unknown field 'bogus'" in text and "check 'A': field 'normalise': unknown normaliser(s) arhc" in text
    assert "field 'compare'" in text and "check 'A': duplicate id" in text and "field 'id'" in text
    assert str(bad) in text
    with pytest.raises(InputError, match="parity file not found"):
        load_parity(tmp_path / "none.toml")


def test_parity_source_from_override(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text('[[check]]\nid = "X"\nrun = "uname -m"\n')
    with pytest.raises(InputError, match="field 'source'"):
        load_parity(f)
    spec = load_parity(f, source="lab-x86")
    assert spec.source == "lab-x86" and spec.checks[0].compare == ["rc", "stdout"]


def test_normalisers_and_side_by_side():
    check = ParityCheck(id="X", run="x", normalise=["arch", "timestamps", "hostname", "trailing-space"])
    text = "machine x86_64 at 2026-11-21T06:27:51Z on lab-a  \n\n"
    assert normalise(text, check, {"hostname": "lab-a"}) == "machine <ARCH> at <TIME> on <HOST>"
    rows = side_by_side("a\nb\nc", "a\nB\nc\nd")
    assert rows == [{"line": 2, "source": "b", "destination": "B"}, {"line": None, "source": None, "destination": "d"}]


def test_compare_sides_reports_what_differs():
    check = ParityCheck(id="X", run="uname -m")
    differs, ev = compare_sides(check, Side("s", 0, "x86_64\n", ""), Side("d", 0, "aarch64\n", ""), {}, {})
    assert differs == ["stdout"] and ev["side_by_side_stdout"] == [{"line": 1, "source": "x86_64", "destination": "aarch64"}]
    check.normalise = ["arch"]
    assert compare_sides(check, Side("s", 0, "x86_64\n", ""), Side("d", 0, "aarch64\n", ""), {}, {})[0] == []
    assert compare_sides(check, Side("s", 2, "", ""), Side("d", 0, "", ""), {}, {})[0] == ["rc"]


@pytest.mark.parametrize("where, text", [
    ("", "timeout = nan\n"), ("", "timeout = inf\n"),
    ("check 'A'", "[[check]]\nid = \"A\"\nrun = \"true\"\ntimeout = -1\n"),
    ("check 'A'", "[[check]]\nid = \"A\"\nrun = \"true\"\ntimeout = nan\n"),
])
def test_parity_timeouts_are_positive_finite_and_bounded(tmp_path, where, text):
    path = tmp_path / "p.toml"
    path.write_text('source = "lab-x86"\n' + text + ("" if "[[check]]" in text else '[[check]]\nid = "A"\nrun = "true"\n'))
    with pytest.raises(InputError) as info:
        load_parity(path)
    place = f"{where}: " if where else ""
    assert f"{path}: {place}field 'timeout' must be a positive number of seconds up to 86400" in info.value.message


def test_parity_ids_are_whole_names_and_text_is_bounded(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('source = "lab-x86"\n[[check]]\nid = "A\\n"\nrun = "true"\n'
                    f'[[check]]\nid = "B"\nrun = "true"\nname = "{"n" * 300}"\n')
    with pytest.raises(InputError) as info:
        load_parity(path)
    assert "check 'A\\n': field 'id' must be letters, digits" in info.value.message
    assert "check 'B': field 'name' must be one line of at most 256 characters" in info.value.message
