"""Hostile packages (issue 12) through the real CLI: `xch product inspect` and `xch scan` share one reader.

Every damaged, truncated or lying file must end in exit 2 with a message naming the file and
what is wrong, never "internal error" (exit 3), a hang, unbounded memory or disk, or a file
written outside the folder it is unpacked in. Memory is bounded for real: the CLI runs in a
subprocess under an address-space limit (RLIMIT_AS), as `prlimit --as` would run it.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.artifacts import ArchiveError, Limits, extract

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "products"))
import hostile as H  # noqa: E402

PROJECT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb not installed")


def xch(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
        address_space: int | None = None) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess; `address_space` caps its virtual memory (bytes) like prlimit --as."""
    def limit() -> None:
        if address_space:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=PROJECT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, preexec_fn=limit)


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("real")
    found = {"deb": H.real_deb(out), "tar.gz": H.real_targz(out)}
    rpm = H.rpmbuild_rpm(out)
    if rpm is None:
        if os.environ.get("CI"):
            pytest.fail("rpmbuild missing (package rpm, in the Makefile's APT_PACKAGES)")
        pytest.skip("rpmbuild not installed")
    found["rpm"] = rpm
    return found


def _damaged(samples: dict[str, Path]) -> dict[str, tuple[str, bytes, str]]:
    """name -> (artifact type, bytes, a phrase the error must contain)."""
    deb, tgz, rpm = (samples[k].read_bytes() for k in ("deb", "tar.gz", "rpm"))
    crc_folder = samples["deb"].parent / "crc"
    crc_folder.mkdir(exist_ok=True)
    bad_crc = H.real_targz(crc_folder, {"app/lib/x.jar": H.bad_crc_jar()}).read_bytes()
    negative = H.negative_ar_size(samples["deb"], samples["deb"].with_name("neg.deb")).read_bytes()
    return {
        "truncated-deb": ("deb", deb[:len(deb) // 2], "truncated"),
        "truncated-gz": ("tar.gz", tgz[:len(tgz) // 2], "truncated"),
        "gz-without-trailer": ("tar.gz", tgz[:-4], "truncated"),
        "empty-tar-gz": ("tar.gz", b"", "empty"),
        "garbage-tar-gz": ("tar.gz", b"this is not a tarball\n" * 30, "damaged"),
        "gzip-of-garbage": ("tar.gz", gzip.compress(b"garbage " * 300), "damaged"),
        "short-rpm": ("rpm", rpm[:200], "truncated"),
        "truncated-rpm": ("rpm", rpm[:-100], "truncated"),
        "not-an-rpm": ("rpm", b"\xed\xab\xee\xdb" + b"\0" * 20, "truncated"),
        "negative-ar-size": ("deb", negative, "'-60' is not a decimal"),
        "bad-crc-jar-in-tar-gz": ("tar.gz", bad_crc, "app/lib/x.jar: META-INF/native/libx.so: damaged (Bad CRC-32"),
    }


CASES = ["truncated-deb", "truncated-gz", "gz-without-trailer", "empty-tar-gz", "garbage-tar-gz", "gzip-of-garbage",
         "short-rpm", "truncated-rpm", "not-an-rpm", "negative-ar-size", "bad-crc-jar-in-tar-gz"]
SUFFIX = {"deb": ".deb", "rpm": ".rpm", "tar.gz": ".tar.gz"}


@pytest.mark.parametrize("case", CASES)
def test_inspect_and_scan_refuse_a_damaged_package_with_exit_2(samples, tmp_path, case):
    kind, data, phrase = _damaged(samples)[case]
    artifact = tmp_path / f"{case}{SUFFIX[kind]}"
    artifact.write_bytes(data)
    folder = H.product(tmp_path / "product", artifact, kind)
    inspected = xch("product", "inspect", str(folder), env={"XCH_CACHE_DIR": str(tmp_path / "cache")})
    assert inspected.returncode == 2, inspected.stderr
    assert "internal error" not in inspected.stderr
    assert f"{artifact.name}" in inspected.stderr and phrase in inspected.stderr, inspected.stderr
    # one reader: scan says the same thing about the same file
    reason = inspected.stderr.strip().split(f"{artifact.name}: ", 1)[1]
    scanned = xch("scan", str(folder / artifact.name), "--format", "json", timeout=60)
    if case == "bad-crc-jar-in-tar-gz":  # the tarball is sound: scan unpacks it and reports the jar inside
        assert scanned.returncode in (0, 1), scanned.stderr
        unreadable = {(f["file"], f["snippet"]) for f in json.loads(scanned.stdout)["findings"]
                      if f["rule"] == "archive-unreadable"}
        assert unreadable == {("app/lib/x.jar", reason)}, unreadable
    else:
        assert scanned.returncode == 2, scanned.stderr
        assert reason in scanned.stderr, (inspected.stderr, scanned.stderr)


def test_scan_does_not_loop_on_a_negative_ar_size_alone_or_in_a_tree(samples, tmp_path):
    (tmp_path / "tree" / "pkg").mkdir(parents=True)
    bad = H.negative_ar_size(samples["deb"], tmp_path / "tree" / "pkg" / "neg.deb")
    alone = xch("scan", str(bad), timeout=60)
    assert alone.returncode == 2 and "neg.deb" in alone.stderr and "-60" in alone.stderr, alone.stderr
    (tmp_path / "tree" / "k.c").write_text("int main(void) { return 0; }\n")
    tree = xch("scan", str(tmp_path / "tree"), "--format", "json", timeout=60)
    assert tree.returncode in (0, 1), tree.stderr
    findings = json.loads(tree.stdout)["findings"]
    assert [(f["rule"], f["file"]) for f in findings if f["rule"] == "archive-unreadable"] == \
        [("archive-unreadable", "pkg/neg.deb")]


# -- decompression bombs -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def zero_bomb(tmp_path_factory) -> Path:
    """A ~1.5 MB .deb holding 1.5 GB of zeros, as the hostile tester made it."""
    return H.zero_bomb_deb(tmp_path_factory.mktemp("bomb"), 1536 << 20)


def test_zero_bomb_is_refused_as_a_bomb(zero_bomb, tmp_path):
    assert zero_bomb.stat().st_size < 2 << 20
    folder = H.product(tmp_path / "product", zero_bomb, "deb")
    done = xch("product", "inspect", str(folder), env={"XCH_CACHE_DIR": str(tmp_path / "cache")},
               address_space=1 << 30)
    assert done.returncode == 2, done.stderr
    assert zero_bomb.name in done.stderr and "decompression bomb" in done.stderr and "XCH_ARTIFACT_MAX_RATIO" in done.stderr
    scanned = xch("scan", str(folder / zero_bomb.name), address_space=1 << 30)
    assert scanned.returncode == 2 and "decompression bomb" in scanned.stderr, scanned.stderr


def test_reading_a_bomb_streams_in_bounded_memory(zero_bomb, tmp_path):
    """Allowed to expand (limits raised), 1.5 GB of zeros is read through under a 1 GiB address-space limit."""
    folder = H.product(tmp_path / "product", zero_bomb, "deb")
    done = xch("product", "inspect", str(folder), "--json", address_space=1 << 30,
               env={"XCH_CACHE_DIR": str(tmp_path / "cache"), "XCH_ARTIFACT_MAX_RATIO": "100000",
                    "XCH_ARTIFACT_MAX_BYTES": "4G"})
    assert done.returncode == 0, done.stderr
    [report] = json.loads(done.stdout)
    assert {"path": "/usr/share/xch-hostile/zeros", "kind": "file"} in report["files"]


def test_total_expansion_cap_is_configurable_and_named(samples, tmp_path):
    folder = H.product(tmp_path / "product", samples["deb"], "deb")
    done = xch("product", "inspect", str(folder), env={"XCH_CACHE_DIR": str(tmp_path / "cache"),
                                                        "XCH_ARTIFACT_MAX_BYTES": "1K"})
    assert done.returncode == 2 and "expands to more than 1 KiB" in done.stderr, done.stderr
    assert "XCH_ARTIFACT_MAX_BYTES" in done.stderr and samples["deb"].name in done.stderr
    bad = xch("product", "inspect", str(folder), env={"XCH_ARTIFACT_MAX_BYTES": "lots"})
    assert bad.returncode == 2 and "XCH_ARTIFACT_MAX_BYTES='lots'" in bad.stderr, bad.stderr


def test_jar_bomb_scan_is_refused_and_disk_stays_bounded(tmp_path):
    """73 members of 10 MB zeros in a ~750 KB jar: scan wrote 730 MB of temporary files before."""
    jar = tmp_path / "bomb.jar"
    jar.write_bytes(H.zip_bomb_jar(10 << 20, members=73))
    assert jar.stat().st_size < 1 << 20
    done = xch("scan", str(jar), env={"TMPDIR": str(tmp_path)})
    assert done.returncode == 2 and "bomb.jar" in done.stderr and "decompression bomb" in done.stderr, done.stderr
    # what extraction writes before the cap stops it, measured on disk
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(ArchiveError, match="expands to more than 50 MiB"):
        extract(jar, dest, limits=Limits(max_bytes=50 << 20))
    written = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    assert 40 << 20 <= written <= 51 << 20


# -- names ------------------------------------------------------------------------------------------

def test_a_file_then_a_folder_of_the_same_name_is_left_out_without_temp_paths(tmp_path):
    tar = H.file_then_folder_tar(tmp_path)
    (tmp_path / "t").mkdir()
    done = xch("scan", str(tar), "--format", "json", env={"TMPDIR": str(tmp_path / "t")})
    assert done.returncode in (0, 1), done.stderr
    assert str(tmp_path / "t") not in done.stdout + done.stderr and "xch-scan-" not in done.stdout + done.stderr
    notes = json.loads(done.stdout)["summary"]["notes"]
    assert "a/b.c: left out (a is a file, not a folder)" in notes


def test_members_never_escape_when_extracted(tmp_path):
    tar = H.escaping_tar(tmp_path)
    dest = tmp_path / "out" / "dest"
    dest.mkdir(parents=True)
    before = {p for p in tmp_path.rglob("*")}
    notes: list[str] = []
    count = extract(tar, dest, notes=notes)
    created = {p for p in tmp_path.rglob("*")} - before
    assert all(p == dest or dest in p.parents for p in created), sorted(created)
    assert not any(p.is_symlink() for p in dest.rglob("*"))
    written = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert written == ["abs/evil.c", "dotdot-link/evil2.c", "fine/ok.c", "link/through-symlink.c"]
    assert count == 4
    assert "../up/evil.c: refused (the name leaves the archive's folder)" in notes
    assert "deep/../../up2/evil.c: refused (the name leaves the archive's folder)" in notes
    assert {"link: symlink not unpacked", "hard: hardlink not unpacked", "dotdot-link: symlink not unpacked"} <= set(notes)
    assert not Path("/abs/evil.c").exists() and not (tmp_path / "up").exists() and not (tmp_path / "out" / "up2").exists()
