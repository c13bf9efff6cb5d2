"""Read a system over its connection: packages, enabled services, listening ports, kernel modules,
cron jobs and key config files — one POSIX sh script, one round trip, sections parsed here.

The script runs under dash and busybox sh and needs nothing beyond coreutils; every optional
tool (ss, systemctl, dpkg, rpm, sha256sum) is guarded. Works without systemd (chroots, containers,
SysV init): enabled services then come from /etc/rc?.d/S* links and *.wants/ folders.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.core import shell
from harness.facts.gather import parse_sections
from harness.transport.base import RunResult

COLLECT_TIMEOUT = 180.0
KEY_CONFIG_FILES = (
    "/etc/ssh/sshd_config", "/etc/sysctl.conf", "/etc/sysctl.d/*.conf", "/etc/security/limits.conf",
    "/etc/security/limits.d/*.conf", "/etc/hosts", "/etc/fstab", "/etc/environment", "/etc/nginx/nginx.conf",
    "/etc/httpd/conf/httpd.conf", "/etc/apache2/apache2.conf", "/etc/my.cnf", "/etc/mysql/my.cnf",
    "/etc/redis/redis.conf", "/etc/redis.conf", "/etc/memcached.conf", "/etc/sysconfig/memcached",
    "/etc/postgresql/*/main/postgresql.conf", "/etc/chrony.conf", "/etc/chrony/chrony.conf", "/etc/ntp.conf",
    "/etc/selinux/config", "/etc/default/grub", "/etc/default/*", "/etc/sysconfig/*",
)

_SCRIPT = r"""
LC_ALL=C; export LC_ALL
PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin"; export PATH
s() { printf '@@XCH:%s@@\n' "$1"; }
have() { command -v "$1" >/dev/null 2>&1; }
s kernel; uname -r
s arch; uname -m
if have dpkg-query; then s packages-dpkg; dpkg-query -W -f='${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\n' 2>/dev/null; fi
if have rpm && ! have dpkg-query; then s packages-rpm; rpm -qa --qf '%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\t%{ARCH}\n' 2>/dev/null; fi
s systemd-running; if [ -d /run/systemd/system ]; then echo yes; else echo no; fi
if [ -d /run/systemd/system ] && have systemctl; then
  s services-systemctl; systemctl list-unit-files --type=service --state=enabled --no-legend --no-pager 2>/dev/null
fi
s services-wants; for f in /etc/systemd/system/*.wants/*.service; do [ -e "$f" ] && echo "${f##*/}"; done
s services-rc; for f in /etc/rc2.d/S* /etc/rc3.d/S* /etc/rc5.d/S* /etc/rc.d/rc3.d/S*; do [ -e "$f" ] && echo "${f##*/}"; done
s initd; for f in /etc/init.d/* /etc/rc.d/init.d/*; do [ -f "$f" ] && echo "${f##*/}"; done
s unit-files; for d in /etc/systemd/system /lib/systemd/system /usr/lib/systemd/system; do for f in "$d"/*.service; do [ -e "$f" ] && echo "${f##*/}"; done; done
s service-owners
for f in /etc/init.d/* /lib/systemd/system/*.service /usr/lib/systemd/system/*.service; do
  [ -f "$f" ] || continue
  if have dpkg-query; then o=$(dpkg-query -S "$f" 2>/dev/null | head -n1 | cut -d: -f1); elif have rpm; then o=$(rpm -qf --qf '%{NAME}' "$f" 2>/dev/null); else o=; fi
  printf '%s\t%s\n' "${f##*/}" "$o"
done
if have ss; then s ss; ss -ltunpH 2>/dev/null || ss -ltunp 2>/dev/null | tail -n +2
else s proc-net-tcp; cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; fi
s modules; cat /proc/modules 2>/dev/null
s modules-available; k=$(uname -r); if [ -d "/lib/modules/$k" ]; then find "/lib/modules/$k" -name '*.ko*' 2>/dev/null | sed 's,.*/,,; s,\.ko.*,,'; cat "/lib/modules/$k/modules.builtin" 2>/dev/null | sed 's,.*/,,; s,\.ko.*,,'; fi
s cron
for f in /etc/crontab /etc/cron.d/* /var/spool/cron/crontabs/* /var/spool/cron/*; do
  [ -f "$f" ] || continue
  grep -v '^[[:space:]]*#' "$f" 2>/dev/null | grep -v '^[[:space:]]*$' | while IFS= read -r l; do printf '%s\t%s\n' "$f" "$l"; done
done
s cron-periodic; for f in /etc/cron.hourly/* /etc/cron.daily/* /etc/cron.weekly/* /etc/cron.monthly/*; do [ -f "$f" ] && echo "$f"; done
s configs
for f in __CONFIGS__; do [ -f "$f" ] && { if have sha256sum; then sha256sum "$f"; else cksum "$f"; fi; }; done
"""


def collect_script(extra_configs: list[str] = ()) -> str:  # type: ignore[assignment]
    """The collection script; config paths (ours, and the user's --config) are quoted, globs kept."""
    words = []
    for pattern in list(KEY_CONFIG_FILES) + list(extra_configs):
        if not re.fullmatch(r"/[\w./*@+-]*", pattern):
            words.append(shell.quote(pattern))  # odd characters: no globbing, exact path only
        else:
            words.append(pattern)
    return _SCRIPT.replace("__CONFIGS__", " ".join(words))


@dataclass
class Snapshot:
    """What one system runs, as read over SSH."""

    name: str
    facts: dict[str, Any] = field(default_factory=dict)
    family: str = ""  # deb or rpm
    packages: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> {version, arch}
    services: list[str] = field(default_factory=list)  # enabled services (names without .service)
    service_files: list[str] = field(default_factory=list)  # every init script / unit present
    service_owner: dict[str, str] = field(default_factory=dict)  # service -> package
    systemd: bool = False
    ports: list[dict[str, Any]] = field(default_factory=list)  # proto, address, port, process
    modules: list[str] = field(default_factory=list)
    modules_available: list[str] = field(default_factory=list)
    cron: list[dict[str, str]] = field(default_factory=list)  # file, line, command
    configs: dict[str, str] = field(default_factory=dict)  # path -> digest

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _service_name(name: str) -> str:
    return name.removesuffix(".service")


def parse_packages_dpkg(text: str) -> dict[str, dict[str, str]]:
    out = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 4 or not parts[0].startswith("ii"):
            continue
        out[parts[1]] = {"version": parts[2], "arch": parts[3]}
    return out


def parse_packages_rpm(text: str) -> dict[str, dict[str, str]]:
    out = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 3 or parts[0] in ("gpg-pubkey",):
            continue
        version = parts[1][2:] if parts[1].startswith("0:") else parts[1]
        out[parts[0]] = {"version": version, "arch": parts[2]}
    return out


def parse_rc_links(text: str) -> list[str]:
    """`S01ssh` -> `ssh`: the SysV services started in the default runlevels."""
    names = set()
    for line in text.split():
        match = re.fullmatch(r"S\d{2}(.+)", line.strip())
        if match:
            names.add(match.group(1))
    return sorted(names)


def parse_systemctl(text: str) -> list[str]:
    return sorted({_service_name(line.split()[0]) for line in text.splitlines() if line.strip() and
                   line.split()[0].endswith(".service") and "@" not in line.split()[0]})


_SS_PROCESS = re.compile(r'users:\(\("([^"]+)"')


def parse_ss(text: str) -> list[dict[str, Any]]:
    """`ss -ltunpH` lines -> [{proto, address, port, process}] (listening TCP, bound UDP)."""
    ports = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[0] not in ("tcp", "udp"):
            continue
        local = fields[4]
        address, _, port = local.rpartition(":")
        if not port.isdigit():
            continue
        process = _SS_PROCESS.search(line)
        ports.append({"proto": fields[0], "address": address.strip("[]") or "*", "port": int(port),
                      "process": process.group(1) if process else ""})
    return sorted(ports, key=lambda p: (p["proto"], p["port"], p["address"]))


def parse_proc_net_tcp(text: str) -> list[dict[str, Any]]:
    """/proc/net/tcp{,6} rows in state 0A (LISTEN) -> ports (no process names without ss)."""
    ports = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[3] != "0A" or ":" not in fields[1]:
            continue
        addr_hex, port_hex = fields[1].rsplit(":", 1)
        if len(addr_hex) == 8:
            octets = bytes.fromhex(addr_hex)[::-1]
            address = ".".join(str(b) for b in octets)
        else:
            address = "::" if set(addr_hex) == {"0"} else addr_hex.lower()
        ports.append({"proto": "tcp", "address": address, "port": int(port_hex, 16), "process": ""})
    unique = {(p["address"], p["port"]): p for p in ports}
    return sorted(unique.values(), key=lambda p: (p["port"], p["address"]))


def parse_modules(text: str) -> list[str]:
    return sorted({line.split()[0] for line in text.splitlines() if line.strip()})


def parse_cron(text: str) -> list[dict[str, str]]:
    """Cron lines with the command they run: 5 time fields (+ user in system crontabs) or @reboot."""
    jobs = []
    for line in text.splitlines():
        if "\t" not in line:
            continue
        path, entry = line.split("\t", 1)
        fields = entry.split()
        if not fields or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", entry):
            continue  # environment assignment (SHELL=, PATH=, MAILTO=)
        system = path == "/etc/crontab" or path.startswith("/etc/cron.d/")
        skip = 1 if fields[0].startswith("@") else 5
        if system:
            skip += 1
        command = " ".join(fields[skip:])
        jobs.append({"file": path, "line": entry.strip(), "command": command})
    return jobs


def parse_configs(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[-1].startswith("/"):
            out[parts[-1]] = parts[0] if len(parts) == 2 else " ".join(parts[:-1])
    return out


def parse_owners(text: str) -> dict[str, str]:
    owners = {}
    for line in text.splitlines():
        name, _, owner = line.partition("\t")
        if owner.strip():
            owners[_service_name(name.strip())] = owner.strip().split(",")[0]
    return owners


def snapshot_from_sections(name: str, sections: dict[str, str], facts: dict[str, Any]) -> Snapshot:
    snap = Snapshot(name=name, facts=facts)
    if sections.get("packages-dpkg", "").strip():
        snap.family, snap.packages = "deb", parse_packages_dpkg(sections["packages-dpkg"])
    elif sections.get("packages-rpm", "").strip():
        snap.family, snap.packages = "rpm", parse_packages_rpm(sections["packages-rpm"])
    snap.systemd = sections.get("systemd-running", "").strip() == "yes"
    enabled = set(parse_systemctl(sections.get("services-systemctl", "")))
    enabled |= {_service_name(s) for s in sections.get("services-wants", "").split() if "@" not in s}
    enabled |= set(parse_rc_links(sections.get("services-rc", "")))
    snap.services = sorted(enabled)
    files = {_service_name(s) for s in sections.get("unit-files", "").split()}
    files |= set(sections.get("initd", "").split())
    snap.service_files = sorted(files)
    snap.service_owner = parse_owners(sections.get("service-owners", ""))
    if "ss" in sections:
        snap.ports = parse_ss(sections["ss"])
    else:
        snap.ports = parse_proc_net_tcp(sections.get("proc-net-tcp", ""))
    snap.modules = parse_modules(sections.get("modules", ""))
    snap.modules_available = sorted(set(sections.get("modules-available", "").split()))
    snap.cron = parse_cron(sections.get("cron", ""))
    snap.cron += [{"file": p, "line": "", "command": p} for p in sections.get("cron-periodic", "").split()]
    snap.configs = parse_configs(sections.get("configs", ""))
    return snap


def collect(name: str, run: Callable[[str, float], RunResult], facts: dict[str, Any],
            extra_configs: list[str] = ()) -> Snapshot:  # type: ignore[assignment]
    """Run the collection script through `run` and parse it; a failing script is an infrastructure error."""
    from harness.core.errors import InfraError

    result = run(collect_script(list(extra_configs)), COLLECT_TIMEOUT)
    if result.timed_out:
        raise InfraError(f"{name}: collecting the system inventory timed out after {COLLECT_TIMEOUT:g}s")
    sections = parse_sections(result.stdout)
    if "kernel" not in sections:
        raise InfraError(f"{name}: the inventory script produced no output (rc {result.rc}): "
                         f"{result.stderr.strip()[:300]}")
    return snapshot_from_sections(name, sections, facts)
