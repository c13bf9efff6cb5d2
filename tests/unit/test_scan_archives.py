"""Packages read without dpkg or rpm: a .deb built by dpkg-deb, a hand-built rpm, tarballs, wheels."""

from __future__ import annotations

import gzip
import io
import shutil
import struct
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from harness.artifacts import extract, open_archive, safe_member_path
from harness.scan import scan_path

HOST_ELF = Path("/usr/bin/true")
pytestmark = pytest.mark.skipif(not HOST_ELF.exists(), reason="needs the controller's /usr/bin/true (an ELF)")


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb not installed")
def test_deb_built_by_dpkg_deb(tmp_path):
    root = tmp_path / "pkg"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text("Package: xch-demo\nVersion: 1.0\nArchitecture: amd64\n"
                                             "Maintainer: xch <xch@example.org>\nDescription: demo\n")
    (root / "usr" / "bin").mkdir(parents=True)
    shutil.copy(HOST_ELF, root / "usr" / "bin" / "xch-demo")
    deb = tmp_path / "xch-demo_1.0_amd64.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "-b", str(root), str(deb)], check=True,
                   capture_output=True)
    report = scan_path(deb, target_arch="aarch64", target_os="kylin-v10")
    assert [(b.file, b.machine) for b in report.binaries] == [("usr/bin/xch-demo", "x86_64")]
    assert {f.rule for f in report.findings} >= {"elf-arch-mismatch"}


def _cpio_newc(files: dict[str, bytes]) -> bytes:
    out = bytearray()
    for ino, (name, data) in enumerate(list(files.items()) + [("TRAILER!!!", b"")], start=1):
        mode = 0o100755 if name != "TRAILER!!!" else 0
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0]
        header = b"070701" + b"".join(f"{v:08x}".encode() for v in fields)
        out += header + name.encode() + b"\0"
        out += b"\0" * (-len(out) % 4)
        out += data
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


def _rpm_header(entries: int = 0) -> bytes:
    return b"\x8e\xad\xe8\x01\0\0\0\0" + struct.pack(">II", entries, 0)


def test_rpm_payload_read_without_rpm(tmp_path):
    """A minimal rpm as the format defines it: 96-byte lead, signature header (padded), header, gzip cpio."""
    lead = b"\xed\xab\xee\xdb" + b"\x03\x00" + b"\x00" * 90
    payload = gzip.compress(_cpio_newc({"./usr/bin/demo": HOST_ELF.read_bytes(), "./etc/demo.conf": b"x=1\n"}))
    rpm = tmp_path / "demo-1.0-1.x86_64.rpm"
    rpm.write_bytes(lead + _rpm_header() + _rpm_header() + payload)
    with open_archive(rpm) as archive:  # member names come without the leading ./ (one reader for scan and inspect)
        names = sorted(m.path for m in archive.members() if m.kind == "file")
    assert names == ["etc/demo.conf", "usr/bin/demo"]
    report = scan_path(rpm, target_os="openeuler-20.03")
    assert [b.file for b in report.binaries] == ["usr/bin/demo"]


def test_tarball_with_sources_and_binary(tmp_path):
    tgz = tmp_path / "app-1.0.tar.gz"
    with tarfile.open(tgz, "w:gz") as tar:
        for name, data in {"app-1.0/k.c": b"#include <immintrin.h>\n", "app-1.0/bin/app": HOST_ELF.read_bytes(),
                           "../escape.c": b"#include <immintrin.h>\n"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    report = scan_path(tgz)
    files = sorted({f.file for f in report.findings})
    assert files == ["app-1.0/bin/app", "app-1.0/k.c"]  # the '..' member is refused, never written outside


def test_wheel_with_native_module(tmp_path):
    whl = tmp_path / "fast-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"
    with zipfile.ZipFile(whl, "w") as z:
        z.writestr("fast/_speed.cpython-311-x86_64-linux-gnu.so", HOST_ELF.read_bytes())
    report = scan_path(whl)
    assert {f.rule for f in report.findings} == {"python-wheel-x86", "elf-arch-mismatch"}


def test_safe_member_paths_and_extract(tmp_path):
    assert safe_member_path("/etc/passwd").as_posix() == "etc/passwd"
    assert safe_member_path("a/../../b") is None
    assert safe_member_path("./") is None
    z = tmp_path / "a.zip"
    with zipfile.ZipFile(z, "w") as archive:
        archive.writestr("ok/file.txt", b"hi")
    assert extract(z, tmp_path / "out") == 1 and (tmp_path / "out" / "ok" / "file.txt").read_bytes() == b"hi"
