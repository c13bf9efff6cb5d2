"""RPATH/RUNPATH judgements (artifacts.rpath_findings / rpath_search_dirs) without a target.

Most tests feed inspection reports in the shape inspect_artifact() returns; one builds a real
package from a real binary patched with patchelf, so the pyelftools reading is covered too.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from harness import artifacts

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "products"))
from debbuild import HOST_TRUE, build_deb, with_search_path  # noqa: E402


def report(*elves: dict) -> dict:
    """A minimal inspection report holding these ELF entries (plus one jar native, which is not judged)."""
    full = [{"machine": "x86_64", "class": 64, "type": "EXEC", "glibc": "2.34", "needed": ["libc.so.6"],
             "rpath": [], "runpath": [], **e} for e in elves]
    jar_native = {"path": "/usr/share/x/x.jar!lib/libx.so", "machine": "x86_64", "rpath": ["/tmp/build"],
                  "runpath": [""]}
    return {"elf": full, "jars": [{"path": "/usr/share/x/x.jar", "native": [jar_native]}], "wheels": []}


def kinds(findings: list[dict]) -> list[tuple[str, str, str, str]]:
    return [(f["path"], f["tag"], f["entry"], f["kind"]) for f in findings]


def test_clean_report_has_no_findings():
    clean = report({"path": "/usr/bin/a", "runpath": ["$ORIGIN/../lib", "${ORIGIN}", "/usr/lib/a", "/opt/a/lib"]},
                   {"path": "/usr/lib/liba.so.1", "rpath": ["$ORIGIN"]},
                   {"path": "/usr/bin/b"})
    assert artifacts.rpath_findings(clean) == []


@pytest.mark.parametrize("value", ["/usr/lib/a::/usr/lib/b", "/usr/lib/a:", ":/usr/lib/a"])
def test_empty_entry_means_current_directory(value):
    findings = artifacts.rpath_findings(report({"path": "/usr/bin/a", "runpath": value.split(":")}))
    assert kinds(findings) == [("/usr/bin/a", "RUNPATH", "", "empty")]
    assert "current working directory" in findings[0]["reason"] and value in findings[0]["reason"]


@pytest.mark.parametrize("entry", ["lib", "../lib", "./lib", "$ORIGINAL/lib", "ORIGIN/lib", "$LIB"])
def test_relative_entry_is_flagged(entry):
    findings = artifacts.rpath_findings(report({"path": "/usr/bin/a", "rpath": ["/usr/lib/a", entry]}))
    assert kinds(findings) == [("/usr/bin/a", "RPATH", entry, "relative")]
    assert "current working directory" in findings[0]["reason"] and "$ORIGIN" in findings[0]["reason"]


@pytest.mark.parametrize("entry, prefix", [
    ("/build/xch-stale/lib", "/build"), ("/tmp/x/lib", "/tmp"), ("/var/tmp/b/lib", "/var/tmp"),
    ("/home/alice/proj/lib", "/home"), ("/root/rpmbuild/BUILD/lib", "/root"), ("/usr/src/packages/lib", "/usr/src"),
    ("/builddir/build/BUILD/x/.libs", "/builddir"), ("/workspace/out/lib", "/workspace"),
    ("/opt/buildagent/work/1/lib", "/opt/buildagent"), ("/usr/lib/../../tmp/lib", "/tmp"), ("/tmp", "/tmp"),
])
def test_build_and_temporary_locations_are_flagged(entry, prefix):
    findings = artifacts.rpath_findings(report({"path": "/usr/bin/a", "runpath": [entry]}))
    assert kinds(findings) == [("/usr/bin/a", "RUNPATH", entry, "build-path")]
    assert f"({prefix})" in findings[0]["reason"]


@pytest.mark.parametrize("entry", ["/tmpfoo/lib", "/homes/lib", "/opt/buildagents/lib", "/usr/srcx",
                                   "/opt/app/tmp/lib"])
def test_lookalike_folders_are_not_build_locations(entry):
    assert artifacts.rpath_findings(report({"path": "/usr/bin/a", "runpath": [entry]})) == []


def test_every_kind_at_once_names_file_tag_and_entry_once():
    rep = report({"path": "/usr/bin/a", "runpath": ["/build/x/lib", "lib", "", "", "$ORIGIN"]},
                 {"path": "/usr/lib/libb.so", "rpath": ["/tmp/b", "/tmp/b"]})
    assert kinds(artifacts.rpath_findings(rep)) == [
        ("/usr/bin/a", "RUNPATH", "/build/x/lib", "build-path"), ("/usr/bin/a", "RUNPATH", "lib", "relative"),
        ("/usr/bin/a", "RUNPATH", "", "empty"), ("/usr/lib/libb.so", "RPATH", "/tmp/b", "build-path")]


def test_install_prefix_is_prepended_for_tar_products():
    rep = report({"path": "/bin/tool", "runpath": ["lib"]})
    [finding] = artifacts.rpath_findings(rep, install_prefix="/opt/acme/")
    assert finding["path"] == "/opt/acme/bin/tool"


def test_search_dirs_expand_origin_against_the_installed_folder():
    rep = report({"path": "/usr/lib/acme/bin/tool",
                  "runpath": ["$ORIGIN/../lib", "${ORIGIN}", "$ORIGIN", "/usr/lib/x//", "lib", "", "/usr/$LIB/x",
                              "$ORIGINAL/lib"]},
                 {"path": "/usr/bin/b", "rpath": ["$ORIGIN/../share/b/plugins"]})
    dirs = [(d["path"], d["tag"], d["entry"], d["dir"]) for d in artifacts.rpath_search_dirs(rep)]
    assert dirs == [
        ("/usr/lib/acme/bin/tool", "RUNPATH", "$ORIGIN/../lib", "/usr/lib/acme/lib"),
        ("/usr/lib/acme/bin/tool", "RUNPATH", "${ORIGIN}", "/usr/lib/acme/bin"),
        ("/usr/lib/acme/bin/tool", "RUNPATH", "$ORIGIN", "/usr/lib/acme/bin"),
        ("/usr/lib/acme/bin/tool", "RUNPATH", "/usr/lib/x//", "/usr/lib/x"),
        ("/usr/bin/b", "RPATH", "$ORIGIN/../share/b/plugins", "/usr/share/b/plugins"),
    ]


def test_search_dirs_with_install_prefix():
    rep = report({"path": "/bin/tool", "runpath": ["$ORIGIN/../lib", "/opt/acme/lib"]})
    assert [d["dir"] for d in artifacts.rpath_search_dirs(rep, "/opt/acme")] == ["/opt/acme/lib", "/opt/acme/lib"]
    assert [d["path"] for d in artifacts.rpath_search_dirs(rep, "/opt/acme")] == ["/opt/acme/bin/tool"] * 2


@pytest.mark.skipif(shutil.which("patchelf") is None, reason="patchelf not installed (make test installs it)")
def test_real_package_with_patched_search_paths(tmp_path):
    """A real binary, patched by patchelf, packaged with dpkg-deb and read back by the inspector."""
    stale = with_search_path(HOST_TRUE, tmp_path / "stale", "/build/xch-stale/lib:lib")
    old = with_search_path(HOST_TRUE, tmp_path / "old", "$ORIGIN/../gone:$ORIGIN", tag="RPATH")
    deb = build_deb(tmp_path, "xch-rpath", {"/usr/bin/xch-stale": stale, "/usr/lib/xch-rpath/helper": old})
    rep = artifacts.inspect_artifact(deb, "deb")
    elves = {e["path"]: e for e in rep["elf"]}
    assert elves["/usr/bin/xch-stale"]["runpath"] == ["/build/xch-stale/lib", "lib"]
    assert elves["/usr/bin/xch-stale"]["rpath"] == []
    assert elves["/usr/lib/xch-rpath/helper"]["rpath"] == ["$ORIGIN/../gone", "$ORIGIN"]
    assert sorted(kinds(artifacts.rpath_findings(rep))) == [
        ("/usr/bin/xch-stale", "RUNPATH", "/build/xch-stale/lib", "build-path"),
        ("/usr/bin/xch-stale", "RUNPATH", "lib", "relative")]
    assert sorted(d["dir"] for d in artifacts.rpath_search_dirs(rep)) == [
        "/build/xch-stale/lib", "/usr/lib/gone", "/usr/lib/xch-rpath"]
