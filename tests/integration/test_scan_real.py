"""`xch scan` on real Debian packages, fetched from the Debian mirror into a private apt cache.

Sources (pinned bookworm versions, so file and line numbers are stable):
- xxhash 0.8.1-1: SSE2/AVX2/AVX-512 *and* NEON paths -> ported chains are info, not blockers;
- minimap2 2.24+dfsg-3: ported through SIMDe by Debian, except its x86 CPU dispatcher;
- hyperscan 5.4.0-2: x86-only (Debian builds it for amd64 only): intrinsics, cpuid, `#error` without SSSE3.
Binaries: memcached from bookworm for amd64 and arm64 (the compatibility suite's package).
Needs apt-get and dpkg-source (dpkg-dev) on the controller and the Debian mirror reachable; the host's
apt configuration is not touched (see harness.artifacts.DebianMirror).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import pytest

from harness.artifacts import DebianMirror
from harness.scan import scan_path

pytestmark = pytest.mark.skipif(shutil.which("apt-get") is None, reason="needs apt-get (a Debian controller)")

SOURCES = {"xxhash": "0.8.1-1", "minimap2": "2.24+dfsg-3", "hyperscan": "5.4.0-2"}


@pytest.fixture(scope="module")
def mirror() -> DebianMirror:
    return DebianMirror()


@pytest.fixture(scope="module")
def scans(mirror):
    out = {}
    for name, version in SOURCES.items():
        tree = mirror.source(name, version)
        started = time.monotonic()
        report = scan_path(tree)
        summary = report.summary()
        print(f"\nscan {name} {version}: {summary['files_scanned']} files in {time.monotonic() - started:.2f}s, "
              f"{summary['by_severity']}, effort ~{summary['effort_total_hours']} h")
        out[name] = (tree, report)
    return out


def where(report, severity=None, rule=None):
    return {(f.rule, f.file, f.line) for f in report.findings
            if (severity is None or f.severity == severity) and (rule is None or f.rule == rule)}


def test_xxhash_has_neon_paths_reported_as_already_ported(scans):
    _, report = scans["xxhash"]
    # one verdict per file: xxhash.h's x86 chains (AVX2/SSE2 include chain at 2712, its NEON branch at 2716, ...)
    # are all covered by ARM branches, so the file gets a single "already ported" note
    assert [(f.rule, f.severity) for f in report.findings if f.file == "xxhash.h"] == [("already-ported", "info")]
    # cli/xsum_arch.h has ARM branches (line 105) and x86 tests without one: warnings, and no "ported" note
    arch = [f for f in report.findings if f.file == "cli/xsum_arch.h"]
    assert {f.severity for f in arch} == {"warning"} and any("line 105" in f.suggestion for f in arch)
    # the x86 dispatcher is the x86 part of a ported module: its `#error` for non-x86 is not a blocker
    assert {f.severity for f in report.findings if f.file == "xxh_x86dispatch.c"} == {"info"}
    assert not {f for f in report.findings if f.file == "xxhash.h" and f.severity == "blocker"}
    # the only blockers: the benchmark Makefile's unconditional -mavx2
    assert where(report, "blocker") == {("build-x86-flag", "tests/bench/Makefile", n) for n in (49, 50, 53, 54)}
    assert ("arch-macro-no-arm", "cli/xsum_arch.h", 82) in where(report, "warning")


def test_minimap2_simde_port_and_x86_only_dispatcher(scans):
    _, report = scans["minimap2"]
    assert ("already-ported", "ksw2_extz2_sse.c", 6) in where(report, "info")  # #include "simde/x86/sse4.1.h"
    assert ("already-ported", "ksw2_ll_sse.c", 7) in where(report, "info")
    assert ("x86-inline-asm", "ksw2_dispatch.c", 24) in where(report, "blocker")  # the #else branch aarch64 compiles
    assert ("x86-inline-asm", "ksw2_dispatch.c", 20) in where(report, "warning")  # x86-64 branch, no ARM branch
    assert ("arch-macro-no-arm", "ksw2_dispatch.c", 19) in where(report, "warning")
    flags = where(report, rule="build-x86-flag")
    assert ("build-x86-flag", "Makefile", 64) in flags
    assert {f.severity for f in report.findings if f.rule == "build-x86-flag"} == {"warning"}  # Makefile knows arm_neon


def test_hyperscan_x86_only_code_is_blocked(scans):
    _, report = scans["hyperscan"]
    blockers = where(report, "blocker")
    assert ("error-non-x86", "src/util/simd_utils.h", 37) in blockers  # #error SSSE3 instructions must be enabled
    # <x86intrin.h> is included only when CMake's x86intrin.h probe succeeds (false on aarch64); what stops
    # aarch64 is the `#error no intrinsics file` of the chain's #else
    assert ("error-non-x86", "src/util/intrinsics.h", 63) in blockers
    assert ("x86-intrinsic-header", "src/util/intrinsics.h", 59) in where(report, "warning")
    assert ("x86-intrinsic-header", "src/util/cpuid_inline.h", 36) in blockers  # <cpuid.h>
    assert ("x86-inline-asm", "src/util/bitutils.h", 133) in blockers  # bsf/btr
    assert ("build-march-x86", "CMakeLists.txt", 1232) in blockers  # -march=core-avx2
    assert sum(f.rule == "x86-intrinsic" for f in report.findings) > 100
    assert not [f for f in report.findings if f.rule == "already-ported" and f.file.startswith("src/")]
    assert report.summary()["effort_by_file"]["src/util/simd_utils.h"]["size"] in ("medium", "large")


def test_cli_json_on_a_real_tree(scans, xch_scan):
    tree, _ = scans["hyperscan"]
    done = xch_scan("scan", str(tree), "--format", "json")
    assert done.returncode == 1
    data = json.loads(done.stdout)
    assert data["summary"]["by_rule"]["error-non-x86"] == 2 and data["findings"][0]["severity"] == "blocker"


@pytest.mark.parametrize("arch,machine", [("amd64", "x86_64"), ("arm64", "aarch64")])
def test_memcached_packages_arch_and_glibc_floor(mirror, arch, machine):
    deb = mirror.binary("memcached", arch)
    report = scan_path(deb, target_arch="aarch64", target_os="openeuler-22.03")
    elves = {b.file: b for b in report.binaries}
    binary = elves["usr/bin/memcached"]
    assert binary.machine == machine and binary.elf_type == "ET_DYN" and binary.glibc_floor == "2.34"
    assert binary.glibc_ok  # 2.34 <= openEuler 22.03's 2.34
    mismatch = {f.file for f in report.findings if f.rule == "elf-arch-mismatch"}
    assert mismatch == ({"usr/bin/memcached"} if arch == "amd64" else set())
    older = scan_path(deb, target_arch="aarch64", target_os="openeuler-20.03")
    assert [(f.rule, f.file) for f in older.findings if f.rule == "elf-glibc-too-new"] == [
        ("elf-glibc-too-new", "usr/bin/memcached")]  # glibc 2.28 lacks GLIBC_2.34




@pytest.fixture
def xch_scan():
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, timeout=300)
    return run
