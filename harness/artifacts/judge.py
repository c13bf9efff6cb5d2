"""Judgements over an inspection report, without a target: wrong machine, too new a glibc, unsafe RPATH.

Pure functions of the report (inspect.py) and the target's facts, so compat, inspect and the
porting scan judge a binary the same way.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from harness.artifacts.elf import NON_ELF, glibc_key
from harness.artifacts.inspect import all_elves
from harness.core import arch as arches


def runs_on(machine: str, arch: str) -> bool:
    """Whether code an ELF file was built for (its machine, canonical spelling) runs on canonical `arch`.

    BPF objects run anywhere: the kernel runs them.
    """
    return machine in (arch, arches.BPF)


def glibc_fits(needs: str, target_glibc: str) -> bool:
    """Whether a binary needing GLIBC_`needs` ("" for none) starts on a system with glibc `target_glibc`."""
    return not needs or glibc_key(needs) <= glibc_key(target_glibc)


def arch_mismatches(report: dict[str, Any], arch: str) -> list[dict[str, Any]]:
    """ELF files (and archives' native sets) that cannot run on `arch`.

    Every plain ELF must be of the target's machine (BPF objects excepted: the kernel runs them).
    A jar or wheel passes when it has no native code or carries code for the target's machine,
    because such archives routinely bundle one native library per platform.
    """
    if arch not in arches.ARCHES:
        return []
    bad = [{"path": e["path"], "machine": e["machine"]} for e in report["elf"] if not runs_on(e["machine"], arch)]
    for archive in report["jars"]:
        natives = [n for n in archive["native"] if n["machine"] not in (arches.BPF, NON_ELF)]
        if natives and not any(n["machine"] == arch for n in natives):
            bad.append({"path": archive["path"], "machine": ",".join(sorted({n["machine"] for n in natives})),
                        "note": f"no native library for {arch} inside"})
    for wheel in report["wheels"]:
        plats = wheel["platforms"]
        if plats and not any(arches.wheel_fits(p, arch) for p in plats):
            bad.append({"path": wheel["path"], "machine": ",".join(plats), "note": f"wheel not built for {arch}"})
    return bad


def glibc_offenders(report: dict[str, Any], arch: str, target_glibc: str) -> list[dict[str, Any]]:
    """ELF files for `arch` that need a newer GLIBC_x.y than the target provides."""
    known = arch in arches.ARCHES
    return [{"path": e["path"], "needs": e["glibc"]} for e in all_elves(report)
            if e.get("glibc") and (not known or e["machine"] == arch) and not glibc_fits(e["glibc"], target_glibc)]


# -- RPATH / RUNPATH ---------------------------------------------------------------------------------

# Absolute library search folders that only exist on a build machine. A path baked in from a build
# (a CI workspace, a build chroot, a developer's home, a temporary folder) is normally absent on the
# target, so the loader probes it in vain on every start; worse, whoever can create it there
# (/tmp, /var/tmp and /dev/shm are world-writable, /home/<user> belongs to that user) can plant a
# library the product then loads. Certification labs and porting advisors flag these entries.
BUILD_PATH_PREFIXES = (
    "/tmp", "/var/tmp", "/dev/shm",                   # world-writable temporary folders
    "/home", "/root",                                 # build users' homes (~/rpmbuild, OBS's /home/abuild)
    "/build", "/builddir", "/builds",                 # sbuild/pbuilder, mock/rpmbuild, GitLab CI
    "/usr/src",                                       # source trees, openSUSE's /usr/src/packages
    "/workspace", "/github/workspace", "/__w",        # CI containers (Tekton/Cloud Build, GitHub Actions)
    "/opt/buildagent", "/var/lib/jenkins", "/var/jenkins_home",  # TeamCity and Jenkins agents
    "/var/lib/mock",                                  # mock's build chroots
)
RPATH_TAGS = (("RPATH", "rpath"), ("RUNPATH", "runpath"))
# $ORIGIN or ${ORIGIN} as a whole leading token ($ORIGINAL is not it), as glibc's ld.so reads it.
_ORIGIN_RE = re.compile(r"^\$(?:ORIGIN|\{ORIGIN\})(?=/|$)")


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _judge_rpath_entry(entry: str, value: str) -> tuple[str, str] | None:
    """(kind, reason) when one RPATH/RUNPATH entry is unsafe on its face, else None."""
    if entry == "":
        return "empty", f"empty entry in {value!r}: the dynamic loader searches the current working directory"
    if _ORIGIN_RE.match(entry):
        return None
    if not entry.startswith("/"):
        return "relative", ("relative entry: resolved against the process's current working directory, "
                            "not the file's folder (insecure; use $ORIGIN)")
    normal = posixpath.normpath(entry)
    prefix = next((p for p in BUILD_PATH_PREFIXES if _under(normal, p)), None)
    if prefix:
        return "build-path", f"build or temporary location ({prefix}): left over from the build machine"
    return None


def rpath_findings(report: dict[str, Any], install_prefix: str = "") -> list[dict[str, Any]]:
    """One finding per unsafe RPATH/RUNPATH entry of the report's ELF files, without a target.

    Flags empty entries, relative entries (not $ORIGIN-based) and build/temporary locations
    (BUILD_PATH_PREFIXES). Paths are as installed: `install_prefix` is prepended (a tar.gz
    product unpacks under its install folder). Only plain ELF files are judged: native code
    inside jars and wheels is unpacked to a temporary folder at run time, so its search path
    means nothing on the installed tree. Whether absolute folders exist needs the target: see
    rpath_search_dirs().
    """
    prefix = install_prefix.rstrip("/")
    findings: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    for elf in report["elf"]:
        path = prefix + elf["path"]
        for tag, key in RPATH_TAGS:
            entries = elf.get(key) or []
            value = ":".join(entries)
            for entry in entries:
                judged = _judge_rpath_entry(entry, value)
                if judged and (path, tag, entry) not in seen:
                    seen.add((path, tag, entry))
                    findings.append({"path": path, "tag": tag, "entry": entry, "kind": judged[0], "reason": judged[1]})
    return findings


def rpath_search_dirs(report: dict[str, Any], install_prefix: str = "") -> list[dict[str, Any]]:
    """Every RPATH/RUNPATH entry that names a definite folder, as the absolute folder to look for.

    Absolute entries are normalised; $ORIGIN/${ORIGIN} is expanded to the installed file's folder
    (with `install_prefix` prepended, as for rpath_findings). Empty and relative entries have no
    fixed folder, and entries still holding another token ($LIB, $PLATFORM) depend on the
    machine's loader, so neither is returned. Each item: path, tag, entry, dir.
    """
    prefix = install_prefix.rstrip("/")
    dirs: list[dict[str, Any]] = []
    for elf in report["elf"]:
        path = prefix + elf["path"]
        for tag, key in RPATH_TAGS:
            for entry in dict.fromkeys(elf.get(key) or []):
                folder = _ORIGIN_RE.sub(lambda _m, p=path: posixpath.dirname(p), entry, count=1)
                if not folder.startswith("/") or "$" in folder:
                    continue
                dirs.append({"path": path, "tag": tag, "entry": entry, "dir": posixpath.normpath(folder)})
    return dirs
