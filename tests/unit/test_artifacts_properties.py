"""Property test of the package-reader surface: mangled real packages are read or refused, nothing else.

Real packages (dpkg-deb's .deb, rpmbuild's .rpm with an xz payload, a tarfile .tar.gz, a zipfile
.jar and a wheel) are truncated, bit-flipped or overwritten at random. Whatever hypothesis makes of
them, inspection (compat and `xch product inspect`) and the scan's reading of a package either give
a report or raise ArchiveError, within a deadline (no loops), never another exception.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.artifacts import ArchiveError, Limits, inspect_artifact, open_archive
from harness.scan import scan_path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "products"))
import hostile as H  # noqa: E402
from debbuild import HOST_TRUE  # noqa: E402

LIMITS = Limits(max_bytes=64 << 20, max_ratio=50)  # mangled headers may claim anything: keep each try small
_ROOT = Path(tempfile.mkdtemp(prefix="xch-prop-"))
SAMPLES: dict[str, bytes] = {}


def _samples() -> dict[str, bytes]:
    if SAMPLES:
        return SAMPLES
    if shutil.which("dpkg-deb") is None or shutil.which("rpmbuild") is None:
        if os.environ.get("CI"):
            pytest.fail("dpkg-deb and rpmbuild are needed (dpkg-dev and rpm in the Makefile's APT_PACKAGES)")
        pytest.skip("dpkg-deb or rpmbuild missing")
    SAMPLES["deb"] = H.real_deb(_ROOT).read_bytes()
    SAMPLES["rpm"] = H.rpmbuild_rpm(_ROOT).read_bytes()  # type: ignore[union-attr]
    SAMPLES["tar.gz"] = H.real_targz(_ROOT, {"app/bin/tool": HOST_TRUE.read_bytes(), "app/README": b"hi\n",
                                             "app/lib/x.jar": H.jar({"lib/libx.so": HOST_TRUE.read_bytes()})}).read_bytes()
    SAMPLES["jar"] = H.jar({"META-INF/native/libx.so": HOST_TRUE.read_bytes(), "a/B.class": b"\xca\xfe\xba\xbe" * 40})
    wheel = io.BytesIO()
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("fast/_speed.so", HOST_TRUE.read_bytes())
        z.writestr("fast-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: cp311-cp311-manylinux_2_17_x86_64\n")
    SAMPLES["whl"] = wheel.getvalue()
    return SAMPLES


SUFFIX = {"deb": ".deb", "rpm": ".rpm", "tar.gz": ".tar.gz", "jar": ".jar", "whl": "-1.0-cp311-cp311-linux_x86_64.whl"}


@st.composite
def mangled(draw) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(sorted(SUFFIX)))
    data = bytearray(_samples()[kind])
    how = draw(st.sampled_from(["truncate", "flip", "overwrite", "truncate+flip"]))
    if "truncate" in how:
        data = data[:draw(st.integers(0, len(data) - 1))]
    if "flip" in how and data:
        for _ in range(draw(st.integers(1, 8))):
            pos = draw(st.integers(0, len(data) - 1))
            data[pos] ^= 1 << draw(st.integers(0, 7))
    if how == "overwrite" and data:
        pos = draw(st.integers(0, len(data) - 1))
        data[pos:pos + 16] = draw(st.binary(min_size=1, max_size=16))
    return kind, bytes(data)


def _write(kind: str, data: bytes) -> Path:
    path = Path(tempfile.mkdtemp(dir=_ROOT)) / f"sample{SUFFIX[kind]}"
    path.write_bytes(data)
    return path


@settings(max_examples=300, deadline=5000, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mangled())
def test_inspection_reads_or_refuses(sample):
    kind, data = sample
    path = _write(kind, data)
    artifact_type = {"jar": "zip", "whl": "zip"}.get(kind, kind)
    try:
        report = inspect_artifact(path, artifact_type, LIMITS)
    except ArchiveError as exc:
        assert str(path) in exc.message
    else:
        assert report["summary"]["files"] == len(report["files"])


@settings(max_examples=300, deadline=5000, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mangled())
def test_scan_reading_reads_or_refuses(sample):
    kind, data = sample
    path = _write(kind, data)
    try:
        with open_archive(path, limits=LIMITS) as archive:
            for member in archive.members():
                if member.kind == "file" and member.head(4) == b"\x7fELF":
                    member.spooled().close()
    except ArchiveError as exc:
        assert str(path) in exc.message


@settings(max_examples=60, deadline=20000, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mangled())
def test_scan_of_a_mangled_package_finds_or_refuses(sample):
    kind, data = sample
    path = _write(kind, data)
    os.environ["XCH_ARTIFACT_MAX_BYTES"] = "64M"
    try:
        report = scan_path(path, target_arch="aarch64")
    except ArchiveError as exc:
        assert str(path) in exc.message and "xch-scan-" not in exc.message
    else:
        assert all("xch-scan-" not in note for note in report.notes)
    finally:
        os.environ.pop("XCH_ARTIFACT_MAX_BYTES", None)
