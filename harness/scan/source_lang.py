"""Other languages: Python requirement pins and wheels, Java archives with native libraries.

The first-aarch64-wheel table was read from PyPI's JSON API (pypi.org/pypi/NAME/json): the
first non-pre-release that ships a manylinux aarch64 wheel, checked 2026-11-21. Below that
version pip on aarch64 falls back to building from source (compilers, headers, hours).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from harness import artifacts
from harness.core import arch
from harness.scan.model import Finding
from harness.scan.rules import rule
from harness.scan.source_c import snippet

FIRST_AARCH64_WHEEL = {
    "numpy": "1.19.0",
    "scipy": "1.5.3",
    "pandas": "1.1.3",
    "grpcio": "1.37.0",
    "cryptography": "3.1",
    "lxml": "4.5.2",
    "pillow": "7.2.0",
    "psycopg2-binary": "2.9",
}
REQUIREMENT_FILE = re.compile(r"^(?:requirements|constraints)[\w.-]*\.(?:txt|in)$", re.I)
REQUIREMENT_LINE = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?P<spec>(?:[<>=!~]=?=?\s*[\w.*+!-]+\s*,?\s*)+)")
QUOTED_REQUIREMENT = re.compile(r"[\"'](?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?P<spec>(?:[<>=!~]=?=?\s*[\w.*+!-]+\s*,?\s*)+)[\"']")
WHEEL_NAME = re.compile(r"^(?P<dist>[^-]+)-(?P<ver>[^-]+)(?:-\d[^-]*)?-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$")
JAVA_ARCHIVES = {".jar", ".war", ".ear", ".aar"}
NATIVE_SUFFIXES = (".so", ".jnilib")


def is_requirements_file(path: Path) -> bool:
    return bool(REQUIREMENT_FILE.match(path.name)) or path.name in ("setup.cfg", "pyproject.toml", "Pipfile")


def _highest_allowed(spec: str, first: Version) -> Version | None:
    """The pin's highest allowed version when it is below `first`, else None (the pin allows an ARM wheel)."""
    try:
        specifier = SpecifierSet(spec.replace(" ", ""))
    except InvalidSpecifier:
        return None
    if specifier.contains(first, prereleases=True):
        return None
    for item in specifier:
        if item.operator in ("==", "===", "<=", "<", "~="):
            try:
                version = Version(item.version.replace(".*", ""))
            except InvalidVersion:
                return None
            if version < first:
                return version
    return None


def scan_requirements(display: str, path: Path, text: str) -> list[Finding]:
    findings = []
    pattern = REQUIREMENT_LINE if REQUIREMENT_FILE.match(path.name) else QUOTED_REQUIREMENT
    for number, line in enumerate(text.split("\n"), start=1):
        if line.lstrip().startswith("#"):
            continue
        for match in pattern.finditer(line):
            name = canonicalize_name(match.group("name"))
            first = FIRST_AARCH64_WHEEL.get(name)
            if not first:
                continue
            pinned = _highest_allowed(match.group("spec"), Version(first))
            if pinned is not None:
                r = rule("python-pin-pre-arm64")
                findings.append(Finding(r.id, r.severity, display, number, snippet(line),
                                        f"{name} {pinned} predates its first aarch64 wheel ({first}). / {name} "
                                        f"{pinned} 早于首个 aarch64 wheel 版本 {first}。 " + r.suggestion))
            if pattern is REQUIREMENT_LINE:
                break
    return findings


def scan_wheel_name(display: str, path: Path) -> list[Finding]:
    """A platform wheel built for x86 only: blocker unless an aarch64 wheel of the same release is next to it."""
    match = WHEEL_NAME.match(path.name)
    if not match or not re.search(r"x86_64|amd64|i686|win32", match.group("plat")):
        return []
    prefix = f"{match.group('dist')}-{match.group('ver')}-"
    siblings = [p.name for p in path.parent.glob(prefix + "*.whl") if "aarch64" in p.name or "arm64" in p.name]
    if siblings:
        return [Finding("already-ported", "info", display, 0, path.name, f"aarch64 wheel: {siblings[0]}. / "
                        f"已有 aarch64 wheel：{siblings[0]}。")]
    r = rule("python-wheel-x86")
    return [Finding(r.id, r.severity, display, 0, path.name, r.suggestion)]


def _native_members(archive: artifacts.Archive, members: Iterator[artifacts.Member], prefix: str = "",
                    depth: int = 0) -> list[tuple[str, str]]:
    """(member path, machine) of every native library in a Java archive, one level of nested jars deep."""
    found = []
    for member in members:
        name = member.path
        if member.kind != "file":
            continue
        if name.endswith(NATIVE_SUFFIXES) or ".so." in name.rsplit("/", 1)[-1]:
            found.append((prefix + name, arch.from_elf_header(member.head(20))))
        elif depth == 0 and name.endswith(tuple(JAVA_ARCHIVES)) and member.head(4) == b"PK\x03\x04":
            found += _native_members(archive, archive.nested(member), prefix + name + "!/", depth + 1)
    return found


def scan_java_archive(display: str, path: Path) -> list[Finding]:
    try:
        with artifacts.open_archive(path, "zip", display=display) as archive:
            natives = _native_members(archive, archive.members())
    except artifacts.ArchiveError as exc:
        r = rule("archive-unreadable")
        return [Finding(r.id, r.severity, display, 0, exc.message[:200], r.suggestion)]
    machines = {m for _, m in natives if m}
    if not machines:
        return []
    arm = [n for n, m in natives if m == "aarch64"]
    if arm:
        return [Finding("already-ported", "info", display, 0, arm[0], "Bundles aarch64 native code. / 包含 aarch64 "
                        "本地库。 " + rule("already-ported").suggestion)]
    listed = ", ".join(f"{n} ({m})" for n, m in natives[:3]) + (" …" if len(natives) > 3 else "")
    r = rule("java-native-no-arm")
    return [Finding(r.id, r.severity, display, 0, listed, r.suggestion)]
