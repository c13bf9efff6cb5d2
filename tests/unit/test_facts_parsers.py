"""Facts parsers against real outputs (tests/fixtures/facts, see SOURCES.md) and odd input."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from harness.facts import parsers
from harness.facts.gather import (
    FACTS_SCRIPT,
    facts_command,
    facts_from_sections,
    gather_facts,
    parse_sections,
)
from harness.facts.parsers import (
    identify_cpu,
    normalise_os,
    parse_ascend_version_info,
    parse_cpuinfo,
    parse_glibc,
    parse_lscpu,
    parse_meminfo,
    parse_npu_smi,
    parse_nvidia_smi_csv,
    parse_os_release,
)
from harness.transport.base import RunResult

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "facts"


def fx(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def os_facts(os_release: str | None, **extra_files: str) -> dict:
    """normalise_os on fixtures; keyword names map to /etc paths."""
    paths = {"kyinfo": "/etc/.kyinfo", "kylin_release": "/etc/kylin-release",
             "productinfo": "/etc/.productinfo", "os_version": "/etc/os-version",
             "openeuler_release": "/etc/openEuler-release"}
    extra = {paths[key]: fx(name) for key, name in extra_files.items()}
    return normalise_os(parse_os_release(fx(os_release)) if os_release else {}, extra)


# ------------------------------------------------------------------------------------ OS


def test_parse_os_release_handles_quotes_comments_and_blanks():
    text = '# comment\n\nNAME="Foo Linux"\nID=foo\nVERSION=\'1 (x)\'\nPRETTY_NAME="say \\"hi\\""\nnot a line\n'
    assert parse_os_release(text) == {"NAME": "Foo Linux", "ID": "foo", "VERSION": "1 (x)",
                                      "PRETTY_NAME": 'say "hi"'}


@pytest.mark.parametrize("fixture, version, sp", [
    ("os-release.openeuler-22.03-lts-sp1", "22.03", "LTS-SP1"),
    ("os-release.openeuler-24.03-lts-sp1", "24.03", "LTS-SP1"),
    ("os-release.openeuler-22.03-lts", "22.03", "LTS"),
])
def test_openeuler(fixture, version, sp):
    facts = os_facts(fixture)
    assert (facts["os_id"], facts["os_name"], facts["os_version"], facts["os_sp"]) == \
        ("openeuler", "openEuler", version, sp)


def test_openeuler_sp_from_release_file_when_os_release_lacks_it():
    facts = normalise_os({"ID": "openEuler", "VERSION_ID": "20.03"},
                         {"/etc/openEuler-release": fx("openEuler-release.20.03-lts-sp4")})
    assert facts["os_sp"] == "LTS-SP4"
    assert os_facts("os-release.openeuler-20.03-lts-sp4")["os_sp"] == "LTS-SP4"


@pytest.mark.parametrize("fixture, extra, sp", [
    ("os-release.kylin-v10-sp1", {}, "SP1"),
    ("os-release.kylin-v10-sp2", {}, "SP2"),
    ("os-release.kylin-v10-sp2", {"productinfo": "productinfo.kylin-v10-sp2"}, "SP2"),
    ("os-release.kylin-v10-sp3", {"kylin_release": "kylin-release.kylin-v10-sp3"}, "SP3"),
    ("os-release.kylin-v10-sp3-2403", {}, "SP3-2403"),
    ("os-release.kylin-v10-sp3-2403", {"productinfo": "productinfo.kylin-v10-sp3-2403"}, "SP3-2403"),
    ("os-release.kylin-v10-sp1", {"kyinfo": "kyinfo.kylin-server-v10-sp1"}, "SP1"),
])
def test_kylin_server(fixture, extra, sp):
    facts = os_facts(fixture, **extra)
    assert facts["os_id"] == "kylin"
    assert facts["os_name"] == "Kylin Linux Advanced Server"
    assert facts["os_version"] == "V10"
    assert facts["os_sp"] == sp
    assert facts["os_edition"] == "Server"


def test_productinfo_beats_codename():
    """An explicit SP in /etc/.productinfo wins over the codename mapping."""
    facts = normalise_os({"ID": "kylin", "VERSION_ID": "V10", "VERSION": "V10 (Lance)"},
                         {"/etc/.productinfo": fx("productinfo.kylin-v10-sp2")})
    assert facts["os_sp"] == "SP2"


def test_kylin_desktop_from_kyinfo_only():
    facts = os_facts(None, kyinfo="kyinfo.kylin-desktop-v10-sp1-2107-loongarch64")
    assert (facts["os_id"], facts["os_version"], facts["os_sp"], facts["os_edition"]) == \
        ("kylin", "V10", "SP1-2107", "Desktop")


@pytest.mark.parametrize("fixture, os_version_file, name, edition, product", [
    ("os-release.uos-server-20-1001c", "os-version.uos-server-20-1001c", "UnionTech OS Server", "1001c", "Server"),
    ("os-release.uos-desktop-20-1050e", "os-version.uos-desktop-20-1050e", "UnionTech OS Desktop", "1050e", "Desktop"),
    ("os-release.uos-desktop-20-pro-1060", "os-version.uos-desktop-20-pro-1060", "UnionTech OS Desktop",
     "1060 Professional", "Desktop"),
])
def test_uos(fixture, os_version_file, name, edition, product):
    facts = os_facts(fixture, os_version=os_version_file)
    assert (facts["os_id"], facts["os_version"], facts["os_sp"]) == ("uos", "20", "")
    assert (facts["os_name"], facts["os_edition"], facts["os_product"]) == (name, edition, product)


def test_uos_without_os_version_file():
    facts = os_facts("os-release.uos-server-20-1070a")
    assert (facts["os_id"], facts["os_name"], facts["os_version"], facts["os_edition"]) == \
        ("uos", "UnionTech OS Server", "20", "")


@pytest.mark.parametrize("fixture, os_id, name, version, like", [
    ("os-release.anolis-8.8", "anolis", "Anolis OS", "8.8", ["rhel", "fedora", "centos"]),
    ("os-release.centos-7", "centos", "CentOS Linux", "7", ["rhel", "fedora"]),
    ("os-release.rhel-9.0", "rhel", "Red Hat Enterprise Linux", "9.0", ["fedora"]),
    ("os-release.ubuntu-22.04", "ubuntu", "Ubuntu", "22.04", ["debian"]),
    ("os-release.debian-12", "debian", "Debian GNU/Linux", "12", []),
])
def test_other_distributions(fixture, os_id, name, version, like):
    facts = os_facts(fixture)
    assert (facts["os_id"], facts["os_name"], facts["os_version"], facts["os_sp"], facts["os_like"]) == \
        (os_id, name, version, "", like)


def test_rhel7_variant_is_edition():
    assert os_facts("os-release.rhel-7.4")["os_edition"] == "Server"


def test_malformed_quote_is_tolerated():
    assert parse_os_release(fx("os-release.kylin-v10-sp3-2403"))["ANSI_COLOR"] == "0;31"


# ------------------------------------------------------------------------------------ CPU


def cpu(arch: str, lscpu: str | None = None, cpuinfo: str | None = None, midr: str | None = None) -> dict:
    return identify_cpu(arch, parse_lscpu(fx(lscpu)) if lscpu else {},
                        parse_cpuinfo(fx(cpuinfo)) if cpuinfo else {}, midr)


def test_lscpu_kunpeng_fields():
    lscpu = parse_lscpu(fx("lscpu.kunpeng920"))
    assert lscpu["Vendor ID"] == "HiSilicon"
    assert lscpu["Model name"] == "Kunpeng-920"
    assert lscpu["BIOS Model name"] == "HUAWEI Kunpeng 920 5250"
    assert lscpu["Socket(s)"] == "4"
    assert lscpu["CPU(s)"] == "192"


@pytest.mark.parametrize("kwargs", [
    {"lscpu": "lscpu.kunpeng920"},
    {"cpuinfo": "cpuinfo.kunpeng920"},
    {"lscpu": "lscpu.kunpeng920-legacy", "cpuinfo": "cpuinfo.kunpeng920"},
    {"lscpu": "lscpu.kunpeng920-legacy", "midr": "0x00000000481fd010"},
])
def test_kunpeng(kwargs):
    facts = cpu("aarch64", **kwargs)
    assert (facts["cpu_vendor"], facts["cpu_model"], facts["cpu_family"]) == ("HiSilicon", "Kunpeng 920", "kunpeng")


def test_kunpeng_ids_from_cpuinfo():
    facts = cpu("aarch64", cpuinfo="cpuinfo.kunpeng920")
    assert (facts["cpu_implementer"], facts["cpu_part"]) == ("0x48", "0xd01")


def test_phytium_s2500_from_sysfs_midr_and_core_count():
    facts = cpu("aarch64", lscpu="lscpu.phytium-s2500-legacy", midr=fx("midr_el1.phytium-ft2500"))
    assert (facts["cpu_vendor"], facts["cpu_model"], facts["cpu_family"]) == ("Phytium", "S2500", "phytium")
    assert facts["cpu_part"] == "0x663"


def test_ftc663_small_core_count_is_ft2000_4():
    lscpu = {"CPU(s)": "4"}
    assert identify_cpu("aarch64", lscpu, {}, "0x00000000701f6633")["cpu_model"] == "FT-2000/4"


@pytest.mark.parametrize("fixture, model", [
    ("cpuinfo.phytium-ftc662", "FT-2000+/64"),
    ("cpuinfo.phytium-ft1500a", "FT-1500A"),
])
def test_phytium_cpuinfo(fixture, model):
    facts = cpu("aarch64", cpuinfo=fixture)
    assert (facts["cpu_vendor"], facts["cpu_model"], facts["cpu_family"]) == ("Phytium", model, "phytium")


def test_vendor_kernel_model_name_wins():
    """Kylin kernels print "Phytium,FT-2000+/64" style names; the detail is kept."""
    info = parse_cpuinfo("processor\t: 0\nmodel name\t: Phytium,S2500/64 C00\nCPU implementer\t: 0x70\n"
                         "CPU part\t: 0x663\n")
    assert identify_cpu("aarch64", {}, info, None)["cpu_model"] == "S2500/64 C00"


def test_hygon():
    facts = cpu("x86_64", lscpu="lscpu.hygon-7260")
    assert (facts["cpu_vendor"], facts["cpu_model"], facts["cpu_family"]) == ("Hygon", "Hygon C86 7260", "hygon")
    info = parse_cpuinfo("processor\t: 0\nvendor_id\t: HygonGenuine\nmodel name\t: Hygon C86 7285 32-core Processor\n")
    assert identify_cpu("x86_64", {}, info, None)["cpu_model"] == "Hygon C86 7285"


def test_zhaoxin():
    facts = cpu("x86_64", cpuinfo="cpuinfo.zhaoxin-kx-u6780a")
    assert (facts["cpu_vendor"], facts["cpu_model"], facts["cpu_family"]) == \
        ("Zhaoxin", "ZHAOXIN KaiXian KX-U6780A@2.7GHz", "zhaoxin")
    shanghai = parse_cpuinfo("processor\t: 0\nvendor_id\t:   Shanghai  \nmodel name\t: x\n")
    assert identify_cpu("x86_64", {}, shanghai, None)["cpu_vendor"] == "Zhaoxin"


def test_intel_and_amd():
    intel = cpu("x86_64", lscpu="lscpu.intel-xeon-8163")
    assert (intel["cpu_vendor"], intel["cpu_family"]) == ("Intel", "x86_64-intel")
    assert intel["cpu_model"] == "Intel(R) Xeon(R) Platinum 8163 CPU @ 2.50GHz"
    amd = cpu("x86_64", lscpu="lscpu.debian12-x86_64-local", cpuinfo="cpuinfo.debian12-x86_64-local")
    assert (amd["cpu_vendor"], amd["cpu_family"]) == ("AMD", "x86_64-amd")


@pytest.mark.parametrize("kwargs", [
    {"cpuinfo": "cpuinfo.loongson-3a5000-hv"},
    {"lscpu": "lscpu.loongson-3a5000-hv"},
])
def test_loongson(kwargs):
    facts = cpu("loongarch64", **kwargs)
    assert (facts["cpu_vendor"], facts["cpu_model"], facts["cpu_family"]) == \
        ("Loongson", "Loongson-3A5000-HV", "loongson")


def test_arm_ltd_tree_layout_lscpu():
    facts = cpu("aarch64", lscpu="lscpu.raspberrypi4-cortex-a72")
    assert (facts["cpu_vendor"], facts["cpu_model"], facts["cpu_family"]) == ("ARM", "Cortex-A72", "arm64-arm")


def test_cpuinfo_counts():
    assert parse_cpuinfo(fx("cpuinfo.loongson-3a5000-hv"))["processor_count"] == 4
    local = parse_cpuinfo(fx("cpuinfo.debian12-x86_64-local"))
    assert local["processor_count"] >= 1 and local["physical_ids"] == ["0"]
    old_arm = parse_cpuinfo("Processor\t: AArch64 Processor rev 0 (aarch64)\nprocessor\t: 0\n")
    assert old_arm["processor_count"] == 1 and old_arm["processor_name"].startswith("AArch64")


def test_parse_midr():
    assert parsers.parse_midr("0x00000000481fd010") == (0x48, 0xD01)
    assert parsers.parse_midr("0x00000000701f6633\n") == (0x70, 0x663)
    assert parsers.parse_midr("garbage") == (None, None)


# ------------------------------------------------------------------------------------ memory, glibc


def test_meminfo():
    facts = parse_meminfo(fx("meminfo.debian12-x86_64-local"))
    assert isinstance(facts["mem_total_kb"], int) and facts["mem_total_kb"] > 0
    assert parse_meminfo("MemTotal:        1006904 kB\n")["mem_total_kb"] == 1006904


@pytest.mark.parametrize("text, version", [
    ("glibc 2.36", "2.36"),
    ("ldd (Debian GLIBC 2.36-9+deb12u14) 2.36", "2.36"),
    ("ldd (Ubuntu GLIBC 2.31-0kylin9.1k20.5) 2.31", "2.31"),
    ("ldd (Debian GLIBC 2.28.19-1+dde) 2.28", "2.28"),
    ("ldd (GNU libc) 2.38", "2.38"),
    ("musl libc (x86_64)\nVersion 1.2.4", ""),
    ("", ""),
])
def test_glibc(text, version):
    assert parse_glibc(text) == version


def test_glibc_local_fixtures():
    assert parse_glibc(fx("ldd-version.debian12-local")) == parse_glibc(fx("getconf-libc.debian12-local")) == "2.36"


# ------------------------------------------------------------------------------------ accelerators


def test_npu_smi_910b2():
    devices = parse_npu_smi(fx("npu-smi-info.910b2"))
    assert len(devices) == 8
    first = devices[0]
    assert (first["npu_id"], first["chip_id"], first["name"], first["health"]) == (0, 0, "910B2", "OK")
    assert (first["power_w"], first["temp_c"], first["bus_id"]) == (96.9, 40, "0000:C1:00.0")
    assert (first["hbm_used_mb"], first["hbm_total_mb"]) == (3334, 65536)
    assert devices[7]["bus_id"] == "0000:42:00.0"
    assert parsers.parse_npu_smi_version(fx("npu-smi-info.910b2")) == "23.0.3"


def test_npu_smi_a3_two_chips_per_npu():
    devices = parse_npu_smi(fx("npu-smi-info.a3-ascend910-dualchip"))
    assert [(d["npu_id"], d["chip_id"], d["phy_id"]) for d in devices] == [(0, 0, 0), (0, 1, 1), (1, 0, 2), (1, 1, 3)]
    assert devices[1]["power_w"] is None  # second chip prints "-"
    assert devices[3]["hbm_used_mb"] == 10568


@pytest.mark.parametrize("fixture, count, name, mem_total", [
    ("npu-smi-info.310p3", 2, "310P3", 21534),
    ("npu-smi-info.310b4-nohbm", 1, "310B4", 15609),
])
def test_npu_smi_without_hbm(fixture, count, name, mem_total):
    devices = parse_npu_smi(fx(fixture))
    assert len(devices) == count
    assert devices[0]["name"] == name and devices[0]["memory_total_mb"] == mem_total
    assert devices[0]["hbm_total_mb"] is None


def test_ascend_version_files():
    driver = parse_ascend_version_info(fx("driver-version.info.25.0.rc1.1"))
    assert driver["version"] == "25.0.rc1.1" and driver["ascendhal_version"] == "7.35.23"
    cann = parse_ascend_version_info(fx("ascend_toolkit_install.info.8.1.RC1"))
    assert cann["version"] == "8.1.RC1" and cann["arch"] == "aarch64"


def test_nvidia_smi_csv():
    gpus = parse_nvidia_smi_csv(fx("nvidia-smi.a100-index-uuid.csv"))
    assert len(gpus) == 4
    assert gpus[0] == {"name": "NVIDIA A100-SXM4-80GB", "driver": "580.159.04", "memory_total_mb": 81920}
    assert parse_nvidia_smi_csv("name, driver_version, memory.total [MiB]\n") == []
    assert parse_nvidia_smi_csv("NVIDIA-SMI has failed because it couldn't communicate with the driver.") == []


# ------------------------------------------------------------------------------------ sections, facts


def section_text(sections: dict[str, str]) -> str:
    return "".join(f"@@XCH:{name}@@\n{body.rstrip(chr(10))}\n" for name, body in sections.items())


def kunpeng_kylin_ascend_sections() -> dict[str, str]:
    return {
        "arch": "aarch64",
        "kernel": "4.19.90-52.22.v2207.ky10.aarch64",
        "os-release": fx("os-release.kylin-v10-sp2"),
        "/etc/.productinfo": fx("productinfo.kylin-v10-sp2"),
        "cpuinfo": fx("cpuinfo.kunpeng920"),
        "lscpu": fx("lscpu.kunpeng920"),
        "midr": "0x00000000481fd010",
        "page_size": "65536",
        "nproc": "192",
        "meminfo": "MemTotal:       1584398848 kB\nMemFree:        1000 kB\n",
        "numa_nodes": "8",
        "package_ids": " 0 1 2 3 ",
        "glibc": "glibc 2.28",
        "pkg_manager": "dnf",
        "hostname": "kp-node-01",
        "npu-smi": fx("npu-smi-info.910b2"),
        "davinci": "\n".join(f"/dev/davinci{i}" for i in range(8)),
        "ascend-driver": fx("driver-version.info.25.0.rc1.1"),
        "ascend-cann": fx("ascend_toolkit_install.info.8.1.RC1"),
        "uid": "0",
        "sudo": "absent",
        "end": "",
    }


def test_parse_sections_roundtrip_and_banner():
    sections = kunpeng_kylin_ascend_sections()
    text = "Welcome to Kylin!\n" + section_text(sections)
    parsed = parse_sections(text)
    assert list(parsed) == list(sections)
    assert parsed["lscpu"] == fx("lscpu.kunpeng920").strip("\n")
    assert parsed["end"] == ""


def test_facts_from_sections_full():
    facts = facts_from_sections(parse_sections(section_text(kunpeng_kylin_ascend_sections())))
    assert facts["arch"] == "aarch64"
    assert (facts["cpu_vendor"], facts["cpu_model"], facts["cpu_family"]) == ("HiSilicon", "Kunpeng 920", "kunpeng")
    assert facts["cpu_bios_model"] == "HUAWEI Kunpeng 920 5250"
    assert (facts["sockets"], facts["cores"], facts["numa_nodes"]) == (4, 192, 8)
    assert facts["mem_total_mb"] == 1584398848 // 1024
    assert facts["page_size"] == 65536
    assert (facts["os_id"], facts["os_version"], facts["os_sp"]) == ("kylin", "V10", "SP2")
    assert facts["glibc"] == "2.28" and facts["pkg_manager"] == "dnf"
    assert facts["is_root"] is True and facts["hostname"] == "kp-node-01"
    [npu] = facts["accelerators"]
    assert (npu["kind"], npu["model"], npu["count"], npu["driver"], npu["cann"]) == \
        ("ascend", "910B2", 8, "25.0.rc1.1", "8.1.RC1")


def test_facts_sockets_fallbacks():
    no_socket_lscpu = {"lscpu": "Socket(s): -\nCPU(s): 4\n", "package_ids": " 0 ", "nproc": ""}
    facts = facts_from_sections(no_socket_lscpu)
    assert (facts["sockets"], facts["cores"]) == (1, 4)
    x86 = facts_from_sections({"cpuinfo": "processor\t: 0\nphysical id\t: 0\n\nprocessor\t: 1\nphysical id\t: 1\n"})
    assert (x86["sockets"], x86["cores"]) == (2, 2)


def test_davinci_only_and_nvidia():
    facts = facts_from_sections({"davinci": "/dev/davinci0\n/dev/davinci1\n/dev/davinci_manager",
                                 "nvidia-smi": fx("nvidia-smi.a100-index-uuid.csv")})
    kinds = {a["kind"]: a for a in facts["accelerators"]}
    assert kinds["ascend"]["count"] == 2 and kinds["ascend"]["model"] == ""
    assert (kinds["nvidia"]["count"], kinds["nvidia"]["model"], kinds["nvidia"]["driver"]) == \
        (4, "NVIDIA A100-SXM4-80GB", "580.159.04")


REQUIRED_KEYS = {"arch", "cpu_vendor", "cpu_model", "cpu_family", "sockets", "cores", "numa_nodes",
                 "mem_total_mb", "page_size", "kernel", "os_id", "os_name", "os_version", "os_sp",
                 "os_edition", "os_like", "glibc", "pkg_manager", "hostname", "accelerators", "is_root"}


def test_empty_sections_give_every_key():
    facts = facts_from_sections({})
    assert REQUIRED_KEYS <= set(facts)
    assert facts["sockets"] is None and facts["accelerators"] == [] and facts["is_root"] is False


class FakeRun:
    def __init__(self, stdout: str, rc: int = 0, timed_out: bool = False, stderr: str = "") -> None:
        self.result = RunResult(command="", rc=rc, stdout=stdout, stderr=stderr, elapsed=0.1, timed_out=timed_out)
        self.calls: list[tuple[str, float]] = []

    def __call__(self, command: str, timeout: float) -> RunResult:
        self.calls.append((command, timeout))
        return self.result


def test_gather_facts_runs_once_with_timeout():
    run = FakeRun(section_text(kunpeng_kylin_ascend_sections()))
    facts = gather_facts(run)
    assert len(run.calls) == 1 and run.calls[0] == (facts_command(), 60.0)
    assert "gather_error" not in facts and facts["cpu_family"] == "kunpeng"


@pytest.mark.parametrize("run, message", [
    (FakeRun("@@XCH:arch@@\naarch64\n", rc=0), "ended early"),
    (FakeRun("@@XCH:arch@@\naarch64\n", rc=127, stderr="sh: not found"), "exited 127"),
    (FakeRun("@@XCH:arch@@\naarch64\n", rc=-1, timed_out=True), "timed out"),
])
def test_gather_facts_reports_errors(run, message):
    facts = gather_facts(run)
    assert message in facts["gather_error"]
    assert facts["arch"] == "aarch64"


def test_script_is_posix_and_runs_here(tmp_path):
    """The script must at least parse under dash/busybox and give sane facts on this host."""
    import shutil
    import subprocess

    for shell in ("dash", "busybox", "sh"):
        exe = shutil.which(shell)
        if not exe:
            continue
        argv = [exe, "sh", "-c", FACTS_SCRIPT] if shell == "busybox" else [exe, "-c", FACTS_SCRIPT]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0, out.stderr
        facts = facts_from_sections(parse_sections(out.stdout))
        assert facts["arch"] == os.uname().machine
        assert facts["cores"] and facts["cores"] >= 1
        assert facts["mem_total_mb"] and facts["mem_total_mb"] > 0
        assert facts["kernel"] == os.uname().release


# ------------------------------------------------------------------------------------ robustness

PARSERS = [
    parse_os_release, parsers.parse_ini_flat, parse_lscpu, parse_cpuinfo, parse_meminfo, parse_glibc,
    parse_npu_smi, parsers.parse_npu_smi_version, parse_ascend_version_info, parse_nvidia_smi_csv,
    parse_sections,
]


def garbage_samples() -> list[str]:
    rng = random.Random(1234)
    samples = ["", "\n\n", ":", "=", "|", "@@XCH:@@", "@@XCH:x@@", "\x00\x01\x02", "a" * 10000]
    for _ in range(30):
        samples.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))).decode("utf-8", "replace"))
    for name in sorted(os.listdir(FIXTURES)):
        text = fx(name)
        samples.append(text[: len(text) // 2])  # truncated real output
        samples.append(text[len(text) // 3:])
    return samples


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.__name__)
def test_parsers_never_raise_on_garbage(parser):
    """Both the guarded parser and its raw implementation (the guard is only a safety net)."""
    raw = getattr(parser, "__wrapped__", parser)
    for sample in garbage_samples():
        parser(sample)
        raw(sample)
    parser(None)  # type: ignore[arg-type]


def test_structured_functions_never_raise_on_garbage():
    for sample in garbage_samples():
        identify_cpu(sample[:20], parse_lscpu(sample), parse_cpuinfo(sample), sample[:30])
        identify_cpu.__wrapped__(sample[:20], parse_lscpu(sample), parse_cpuinfo(sample), sample[:30])
        normalise_os.__wrapped__(parse_os_release(sample), {"/etc/.kyinfo": sample, "/etc/os-version": sample})
        normalise_os(parse_os_release(sample), {"/etc/.kyinfo": sample, "/etc/os-version": sample,
                                                "/etc/.productinfo": sample, "/etc/kylin-release": sample})
        facts_from_sections(parse_sections(sample))
        facts_from_sections({"lscpu": sample, "cpuinfo": sample, "npu-smi": sample, "arch": sample,
                             "os-release": sample, "nvidia-smi": sample, "meminfo": sample})
    identify_cpu(None, None, None, None)  # type: ignore[arg-type]
    normalise_os(None, None)  # type: ignore[arg-type]
    facts_from_sections(None)  # type: ignore[arg-type]


try:  # fuzz tests only when hypothesis is available; the rest of the module must still run
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - depends on the environment
    given = None

if given is not None:
    @settings(max_examples=150, deadline=None)
    @given(st.text())
    def test_fuzz_text_parsers(text):
        for parser in PARSERS:
            parser(text)
            getattr(parser, "__wrapped__", parser)(text)


    @settings(max_examples=100, deadline=None)
    @given(st.text(), st.dictionaries(st.sampled_from(["/etc/.kyinfo", "/etc/os-version", "/etc/.productinfo",
                                                       "/etc/kylin-release", "/etc/openEuler-release"]), st.text()))
    def test_fuzz_normalise_os(text, extra):
        facts = normalise_os(parse_os_release(text), extra)
        assert isinstance(facts["os_like"], list)


    @settings(max_examples=100, deadline=None)
    @given(st.text(max_size=30), st.text(), st.text(), st.one_of(st.none(), st.text(max_size=40)))
    def test_fuzz_identify_cpu(arch, lscpu, cpuinfo, midr):
        facts = identify_cpu(arch, parse_lscpu(lscpu), parse_cpuinfo(cpuinfo), midr)
        assert facts["cpu_vendor"] and facts["cpu_family"]


    @settings(max_examples=100, deadline=None)
    @given(st.dictionaries(st.sampled_from(["arch", "lscpu", "cpuinfo", "midr", "nproc", "meminfo", "npu-smi",
                                            "davinci", "nvidia-smi", "os-release", "uid", "package_ids"]), st.text()))
    def test_fuzz_facts_from_sections(sections):
        assert REQUIRED_KEYS <= set(facts_from_sections(sections))


def test_arm_userland_on_x86_cpuinfo_is_reported_as_emulation():
    """The lab's arm64 target runs under qemu-user and sees the host's x86 /proc/cpuinfo."""
    from harness.facts.gather import facts_from_sections

    cpuinfo = (FIXTURES / "cpuinfo.debian12-x86_64-local").read_text()
    facts = facts_from_sections({"arch": "aarch64", "cpuinfo": cpuinfo})
    assert facts["emulation"] == "qemu-user"
    assert facts["cpu_vendor"] in ("AMD", "Intel") and facts["cpu_family"].startswith("emulated-x86_64")
    assert "(qemu-user emulation)" in facts["cpu_model"]
    native = facts_from_sections({"arch": "x86_64", "cpuinfo": cpuinfo})
    assert native["emulation"] == "" and not native["cpu_family"].startswith("emulated")
