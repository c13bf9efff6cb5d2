"""Ask the target OS's package repositories which of the source's packages they offer, and at what version.

apt: one `apt-cache policy NAME...` for every name (a name the repositories do not know is simply
absent from the answer). dnf: one `dnf repoquery`. Both read the target's own repository
metadata, so the answer is for the target's architecture and OS release.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from harness.core import shell
from harness.core.errors import InfraError
from harness.transport.base import RunResult

PROBE_TIMEOUT = 600.0
BATCH = 400  # names per command: stays far below ARG_MAX


def parse_apt_policy(text: str) -> dict[str, dict[str, str]]:
    """{name: {"installed": v|"", "candidate": v|""}} for every package apt-cache policy described."""
    out: dict[str, dict[str, str]] = {}
    current = None
    for line in text.splitlines():
        if line and not line[0].isspace() and line.rstrip().endswith(":"):
            current = line.rstrip()[:-1]
            out[current] = {"installed": "", "candidate": ""}
            continue
        if current is None:
            continue
        match = re.fullmatch(r"\s+(Installed|Candidate):\s*(.+)", line)
        if match:
            value = match.group(2).strip()
            out[current][match.group(1).lower()] = "" if value == "(none)" else value
    return out


def parse_repoquery(text: str) -> dict[str, dict[str, str]]:
    """`name<TAB>epoch:version-release<TAB>arch` lines -> {name: {"candidate": v}} keeping the highest."""
    from harness.migrate.versions import compare_rpm

    out: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        parts = line.strip().split("\t")
        if len(parts) < 2:
            continue
        name, version = parts[0], parts[1].removeprefix("0:")
        old = out.get(name, {}).get("candidate")
        if not old or compare_rpm(version, old) > 0:
            out[name] = {"installed": "", "candidate": version}
    return out


def probe_packages(run: Callable[[str, float], RunResult], family: str, names: list[str],
                   target: str) -> dict[str, dict[str, str]]:
    """Candidate (and installed) versions on the target for `names`; unknown names are left out."""
    found: dict[str, dict[str, str]] = {}
    for start in range(0, len(names), BATCH):
        chunk = names[start:start + BATCH]
        if family == "deb":
            cmd = shell.env_prefix({"LC_ALL": "C"}) + shell.command("apt-cache", "policy", *chunk)
            parse = parse_apt_policy
        else:
            cmd = (shell.command("dnf", "-q", "repoquery", "--qf", "%{name}\t%{epoch}:%{version}-%{release}\t%{arch}",
                                 *chunk) + " 2>/dev/null")
            parse = parse_repoquery
        result = run(cmd, PROBE_TIMEOUT)
        if result.timed_out:
            raise InfraError(f"{target}: package query timed out after {PROBE_TIMEOUT:g}s")
        if result.rc not in (0, 100) and not result.stdout.strip():
            raise InfraError(f"{target}: package query failed (rc {result.rc}): {result.stderr.strip()[:300]}")
        found.update(parse(result.stdout))
    return found


def probe_paths(run: Callable[[str, float], RunResult], paths: list[str]) -> dict[str, bool]:
    """Which absolute paths exist (and are executable, for commands) on the target."""
    if not paths:
        return {}
    checks = "; ".join(f"if [ -x {shell.quote(p)} ]; then echo 1; else echo 0; fi" for p in paths)
    result = run(checks, 60)
    flags = result.stdout.split()
    return {p: flags[i] == "1" if i < len(flags) else False for i, p in enumerate(paths)}


def probe_commands(run: Callable[[str, float], RunResult], names: list[str]) -> dict[str, bool]:
    """Which command names resolve on the target's PATH (for processes seen listening on the source)."""
    if not names:
        return {}
    # Daemons often live off PATH (/usr/lib/postgresql/15/bin/postgres, /usr/libexec/...): look there too.
    checks = "; ".join(
        f"n={shell.quote(n)}; if command -v \"$n\" >/dev/null 2>&1 || ls /usr/lib/*/bin/\"$n\" /usr/lib/*/*/bin/\"$n\" "
        f"/usr/libexec/\"$n\" /usr/libexec/*/\"$n\" /opt/*/bin/\"$n\" >/dev/null 2>&1; then echo 1; else echo 0; fi"
        for n in names)
    flags = run(checks, 60).stdout.split()
    return {n: flags[i] == "1" if i < len(flags) else False for i, n in enumerate(names)}
