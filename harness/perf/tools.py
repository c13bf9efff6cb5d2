"""Benchmark tools on a target: use what is there, install what is missing, say which happened.

Standard tools from the target's own package manager (sysbench, fio, iperf3, stress-ng) keep the
figures comparable with what other labs publish. Installing is an action on the target, so it is
recorded in the evidence ("installed"), and a tool that cannot be had makes its metric skipped
with the package manager's own words as the reason, never a silent gap.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from harness.core import shell

INSTALL_TIMEOUT = 900.0
APT_ENV = "DEBIAN_FRONTEND=noninteractive"
APT = "apt-get -o DPkg::Lock::Timeout=600 -q"

# Package name per package manager where it differs from the tool's name.
PACKAGES: dict[str, dict[str, str]] = {
    "sysbench": {},
    "fio": {},
    "iperf3": {},
    "stress-ng": {},
}


@dataclass
class ToolStatus:
    tool: str
    available: bool
    action: str  # "present" | "installed" | "unavailable"
    package: str = ""
    version: str = ""
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in ("", None)}


def install_command(pkg_manager: str, package: str) -> str | None:
    """The non-interactive install command for `package`, or None for an unknown package manager."""
    pkg = shell.quote(package)
    if pkg_manager == "apt-get":
        # Update only when the package is not known yet: a stale index is the usual reason.
        return (f"{APT_ENV} {APT} install -y --no-install-recommends {pkg} || "
                f"{{ {APT_ENV} {APT} update && {APT_ENV} {APT} install -y --no-install-recommends {pkg}; }}")
    if pkg_manager in ("dnf", "yum"):
        return f"{pkg_manager} install -y {pkg}"
    if pkg_manager == "zypper":
        return f"zypper --non-interactive install {pkg}"
    if pkg_manager == "apk":
        return f"apk add {pkg}"
    return None


def tool_version(conn: Any, tool: str) -> str:
    for flag in ("--version", "-v", "-V"):
        r = conn.run(f"{shell.quote(tool)} {flag} 2>&1 | head -n 1", timeout=60)
        text = r.stdout.strip()
        if r.ok and text and "unrecognized" not in text and "invalid" not in text:
            return text[:200]
    return ""


def ensure_tool(conn: Any, tool: str, pkg_manager: str, cache: dict[tuple[str, str], ToolStatus] | None = None) -> ToolStatus:
    """Find `tool` on the target or install its package; the answer is cached per (target, tool)."""
    key = (conn.name, tool)
    if cache is not None and key in cache:
        return cache[key]
    status = _ensure(conn, tool, pkg_manager)
    if cache is not None:
        cache[key] = status
    return status


def _present(conn: Any, tool: str) -> bool:
    return conn.run(f"command -v {shell.quote(tool)} >/dev/null 2>&1", timeout=30).rc == 0


def _ensure(conn: Any, tool: str, pkg_manager: str) -> ToolStatus:
    package = PACKAGES.get(tool, {}).get(pkg_manager, tool)
    if _present(conn, tool):
        return ToolStatus(tool, True, "present", package, tool_version(conn, tool))
    cmd = install_command(pkg_manager, package)
    if cmd is None:
        return ToolStatus(tool, False, "unavailable", package,
                          reason=f"{tool} is not installed and the package manager {pkg_manager or 'unknown'!r} "
                                 "is not supported for installing it")
    result = conn.run(cmd, timeout=INSTALL_TIMEOUT)
    if result.ok and _present(conn, tool):
        return ToolStatus(tool, True, "installed", package, tool_version(conn, tool))
    tail = (result.stderr.strip() or result.stdout.strip())[-400:]
    why = "timed out" if result.timed_out else f"exited {result.rc}"
    return ToolStatus(tool, False, "unavailable", package,
                      reason=f"{tool} is missing and installing package {package!r} with {pkg_manager} {why}: {tail}")
