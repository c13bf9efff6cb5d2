"""Artifact inspection without a target: real packages built at test time from real binaries."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import struct
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from harness import artifacts
from harness.core.errors import InputError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "products"))
from debbuild import HOST_TRUE, build_deb, newer_glibc_binary  # noqa: E402

# ELF machines are reported in the one spelling of harness.core.arch: the kernel's (x86_64, not x86-64).
HOST_MACHINE = {"x86_64": "x86_64", "aarch64": "aarch64"}.get(__import__("os").uname().machine)
OTHER_ARCH = "aarch64" if HOST_MACHINE == "x86_64" else "x86_64"
HOST_ARCH = "x86_64" if HOST_MACHINE == "x86_64" else "aarch64"
LIBZ = next(iter(sorted(Path("/usr/lib").glob("*-linux-gnu/libz.so.1*"))), None)


def test_digests_are_sha256_and_sm3(tmp_path):
    data = b"xinchuang " * 1000
    path = tmp_path / "blob"
    path.write_bytes(data)
    got = artifacts.digests(path)
    assert got == {"sha256": hashlib.sha256(data).hexdigest(), "sm3": hashlib.new("sm3", data).hexdigest()}
    # GB/T 32905-2016 test vector: SM3("abc")
    assert artifacts.digest_bytes(b"abc")["sm3"] == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_deb_inspection_of_a_real_binary(tmp_path):
    deb = build_deb(tmp_path, "xch-inspect", {"/usr/bin/xch-true": HOST_TRUE, "/usr/share/doc/xch-inspect/README": b"hi\n"},
                    version="2.0-3")
    report = artifacts.inspect_artifact(deb, "deb")
    assert report["package"] == {"name": "xch-inspect", "version": "2.0-3", "architecture": "amd64", "depends": ""}
    assert {"path": "/usr/bin/xch-true", "kind": "file"} in report["files"]
    [elf] = report["elf"]
    assert elf["path"] == "/usr/bin/xch-true" and elf["machine"] == HOST_MACHINE and elf["class"] == 64
    assert "libc.so.6" in elf["needed"]
    assert artifacts.glibc_key(elf["glibc"]) >= (2, 3)
    assert report["summary"]["machines"] == {HOST_MACHINE: 1}
    assert artifacts.arch_mismatches(report, HOST_ARCH) == []
    assert artifacts.arch_mismatches(report, OTHER_ARCH) == [{"path": "/usr/bin/xch-true", "machine": HOST_MACHINE}]


def test_newer_glibc_is_found(tmp_path):
    binary = newer_glibc_binary(tmp_path / "xch-new")
    deb = build_deb(tmp_path, "xch-newglibc", {"/usr/bin/xch-new": binary})
    report = artifacts.inspect_artifact(deb, "deb")
    assert report["elf"][0]["glibc"] == "2.99"
    assert artifacts.glibc_offenders(report, HOST_ARCH, "2.36") == [{"path": "/usr/bin/xch-new", "needs": "2.99"}]
    assert artifacts.glibc_offenders(report, HOST_ARCH, "2.99") == []
    assert artifacts.glibc_key("2.9") < artifacts.glibc_key("2.10") < artifacts.glibc_key("2.36")


def _wheel(platform: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("fastthing/__init__.py", "")
        z.writestr("fastthing-1.0.dist-info/WHEEL", f"Wheel-Version: 1.0\nTag: cp311-cp311-{platform}\n")
    return buf.getvalue()


def _jar(native: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        for name, data in native.items():
            z.writestr(name, data)
    return buf.getvalue()


@pytest.mark.skipif(LIBZ is None, reason="no libz.so on the controller")
def test_tarball_with_jar_and_wheels(tmp_path):
    lib = LIBZ.read_bytes()
    members = {
        "app/bin/tool": HOST_TRUE.read_bytes(),
        "app/lib/netty.jar": _jar({f"META-INF/native/libnetty_{HOST_ARCH}.so": lib}),
        "app/lib/pure.jar": _jar({}),
        "app/wheels/fastthing-1.0-cp311-cp311-manylinux_2_17_aarch64.whl": _wheel("manylinux_2_17_aarch64"),
        "app/wheels/pure-1.0-py3-none-any.whl": _wheel("any"),
    }
    path = tmp_path / "app.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo("./" + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    report = artifacts.inspect_artifact(path, "tar.gz")
    assert [e["path"] for e in report["elf"]] == ["/app/bin/tool"]
    jars = {j["path"]: j for j in report["jars"]}
    assert jars["/app/lib/pure.jar"]["native"] == []
    [native] = jars["/app/lib/netty.jar"]["native"]
    assert native["machine"] == HOST_MACHINE and native["path"].endswith(f"libnetty_{HOST_ARCH}.so")
    wheels = {w["path"].rsplit("/", 1)[1]: w["platforms"] for w in report["wheels"]}
    assert wheels == {"fastthing-1.0-cp311-cp311-manylinux_2_17_aarch64.whl": ["manylinux_2_17_aarch64"],
                      "pure-1.0-py3-none-any.whl": ["any"]}
    bad_other = {b["path"] for b in artifacts.arch_mismatches(report, OTHER_ARCH)}
    assert "/app/bin/tool" in bad_other and "/app/lib/netty.jar" in bad_other
    bad_host = {b["path"] for b in artifacts.arch_mismatches(report, HOST_ARCH)}
    assert bad_host == ({"/app/wheels/fastthing-1.0-cp311-cp311-manylinux_2_17_aarch64.whl"} if HOST_ARCH == "x86_64" else set())


def _rpm(name: str, files: dict[str, bytes]) -> bytes:
    """A minimal but well-formed RPM v3: lead, signature header, header (NAME/VERSION/RELEASE/ARCH), gzip cpio."""

    def header(tags: list[tuple[int, str]]) -> bytes:
        store, index = b"", b""
        for tag, value in tags:
            index += struct.pack(">IIII", tag, 6, len(store), 1)
            store += value.encode() + b"\0"
        return b"\x8e\xad\xe8\x01\0\0\0\0" + struct.pack(">II", len(tags), len(store)) + index + store

    cpio = b""
    for i, (path, data) in enumerate([*files.items(), ("TRAILER!!!", b"")]):
        fname = (path if path == "TRAILER!!!" else "." + path).encode() + b"\0"
        fields = [i + 1, 0o100755 if data else 0, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(fname), 0]
        head = b"070701" + b"".join(f"{f:08x}".encode() for f in fields) + fname
        head += b"\0" * (-len(head) % 4)
        cpio += head + data + b"\0" * (-len(data) % 4)
    lead = b"\xed\xab\xee\xdb" + b"\0" * 92
    sig = header([])
    sig += b"\0" * (-len(sig) % 8)
    return lead + sig + header([(1000, name), (1001, "1.0"), (1002, "1.el8"), (1022, "x86_64")]) + gzip.compress(cpio)


def test_rpm_payload_is_read(tmp_path):
    path = tmp_path / "xch-tool-1.0-1.el8.x86_64.rpm"
    path.write_bytes(_rpm("xch-tool", {"/usr/bin/xch-tool": HOST_TRUE.read_bytes(), "/etc/xch-tool.conf": b"a=1\n"}))
    report = artifacts.inspect_artifact(path, "rpm")
    assert report["package"]["name"] == "xch-tool" and report["package"]["version"] == "1.0-1.el8"
    assert report["package"]["architecture"] == "x86_64"
    assert [e["path"] for e in report["elf"]] == ["/usr/bin/xch-tool"]
    assert {f["path"] for f in report["files"]} == {"/usr/bin/xch-tool", "/etc/xch-tool.conf"}


def test_garbage_is_bad_input(tmp_path):
    path = tmp_path / "not.deb"
    path.write_bytes(b"hello")
    with pytest.raises(InputError, match="not a Debian package"):
        artifacts.inspect_artifact(path, "deb")
    broken_elf = b"\x7fELF" + b"\x02\x01\x01" + b"\0" * 20
    deb = build_deb(tmp_path, "xch-broken", {"/usr/bin/broken": broken_elf})
    report = artifacts.inspect_artifact(deb, "deb")
    assert report["elf"][0]["machine"] == "unparsable" and "error" in report["elf"][0]


def test_inspection_cache_is_keyed_by_content(tmp_path):
    from harness.product import Artifact

    deb = build_deb(tmp_path, "xch-cache", {"/usr/bin/xch-true": HOST_TRUE})
    fetched = artifacts.fetch(Artifact(arch=HOST_ARCH, type="deb", file=deb))
    assert fetched.sha256 == hashlib.sha256(deb.read_bytes()).hexdigest()
    first = artifacts.inspect_cached(fetched, root=tmp_path / "cache")
    cached = list((tmp_path / "cache" / "inspect").glob(f"{fetched.sha256}.v*.json"))
    assert len(cached) == 1 and json.loads(cached[0].read_text())["package"]["name"] == "xch-cache"
    assert artifacts.inspect_cached(fetched, root=tmp_path / "cache") == first
