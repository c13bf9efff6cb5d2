"""Vendor submissions: `products/<id>/product.toml`, loaded into a `Product` and validated.

A manifest is input from outside the lab, so it is checked whole before anything runs: every
problem is collected and reported at once with the file, the field and the expected form
(`InputError`, exit code 2). Values that name things on a target (apt packages, services) must
match strict patterns; free text (vendor, name, contact) may hold anything, because it is never
executed and is quoted wherever it goes. Only the explicit command fields (lifecycle start/stop/
restart/status, the command health probe, smoke tests) run as commands, and only on the target.

    [product]
    vendor = "Debian"            # id defaults to the folder name
    name = "Redis"
    version = "7.0.15"
    category = "database"
    contact = "qa@example.com"
    platforms = [{ arch = "aarch64", os = "debian", os_version = "12" }]

    [[artifacts]]                # one or more per architecture ("all" = every architecture)
    arch = "aarch64"
    apt = "redis-server"         # fetched with `apt-get download redis-server:arm64`; or file = "pkgs/x.deb"

    [lifecycle]
    service = "redis-server"     # systemd unit when systemd runs, else /etc/init.d/<service>
    ports = [6379]
    process = "redis-server"     # executable name of the main process
    health = { type = "tcp", port = 6379, timeout = 60 }

    [[smoke]]
    name = "ping"
    command = "redis-cli ping"
    expect_output = "PONG"
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from harness.core import arch as arches
from harness.core.errors import InputError
from harness.core.problems import COMMAND_CHARS, PATH_CHARS, TEXT_CHARS, Problems, shown, too_long
from harness.core.storage import atomic_write_json
from harness.core.tomlfile import read_toml

MANIFEST = "product.toml"
CATEGORIES = ("operating-system", "database", "middleware", "office", "application", "driver", "tool",
              "server", "chip", "storage", "network", "terminal")
ARTIFACT_TYPES = ("deb", "rpm", "tar.gz")
HEALTH_TYPES = ("tcp", "http", "command")
# Canonical architecture names are `uname -m` spellings (what facts["arch"] holds); every accepted
# spelling lives in the one table, harness.core.arch.
ARCH_ALIASES = arches.ALIASES
# Passed through untouched for the suites that own them (perf, migration, security).
PASSTHROUGH = ("workloads", "perf", "migration", "security")
# Suites `xch certify` runs after compat when the manifest asks for them ([certify] suites = [...]).
CERTIFY_SUITES = ("perf", "migration")

# Strict patterns are applied with fullmatch: `$` would also match before a trailing newline.
ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
APT_NAME_RE = re.compile(r"[a-z0-9][a-z0-9+.-]{0,127}")
APT_VERSION_RE = re.compile(r"[A-Za-z0-9.+~:-]{1,128}")
SERVICE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9@._+:-]{0,127}")
OS_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
OS_VERSION_RE = re.compile(r"[A-Za-z0-9._-]{1,32}")
USER_RE = re.compile(r"[a-z_][a-z0-9_.-]{0,31}\$?")
ABSOLUTE_PATH_RE = re.compile(r"/.*")
PROCESS_RE = re.compile(r"[^/]{1,64}")
PROBE_HOST_RE = re.compile(r"[A-Za-z0-9.:-]{1,253}")
URL_RE = re.compile(r"https?://\S+")
SMOKE_NAME_RE = re.compile(r".{1,80}")
CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # commands may hold tabs and newlines
ANY_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")  # every other field is one line

# install_dir: the tar.gz uninstall removes it whole, so it must be the product's own folder: an
# absolute, normalised path at least two levels deep (/opt/acme, /srv/acme, /usr/local/acme, or a
# vendor's own top folder such as /acme/app), never inside or equal to a folder the system owns.
SYSTEM_FOLDERS = ("/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/lost+found",
                  "/media", "/mnt", "/proc", "/root", "/run", "/sbin", "/snap", "/sys", "/tmp", "/usr", "/var")
USR_LOCAL_SYSTEM = ("bin", "etc", "games", "include", "lib", "lib64", "libexec", "man", "sbin", "share", "src")
INSTALL_DIR_FORM = ("the product's own folder: an absolute path at least two levels deep, below /opt, /srv, "
                    "/usr/local or a vendor folder (e.g. /opt/acme), not inside a system folder "
                    f"({', '.join(SYSTEM_FOLDERS)}, /usr/local/{{{','.join(USR_LOCAL_SYSTEM)}}}); "
                    "the tar.gz uninstall removes it")


@dataclass(frozen=True)
class Platform:
    arch: str
    os: str
    os_version: str

    def matches(self, facts: dict[str, Any]) -> bool:
        """Same arch and OS id; the declared version is a prefix of the target's (12 matches 12.5)."""
        version = str(facts.get("os_version", ""))
        return (facts.get("arch") == self.arch and facts.get("os_id") == self.os
                and (version == self.os_version or version.startswith(self.os_version + ".")))

    def label(self) -> str:
        return f"{self.arch} {self.os} {self.os_version}"


@dataclass(frozen=True)
class Artifact:
    """One package file for one architecture: a local file, or an apt package xch fetches."""

    arch: str
    type: str
    file: Path | None = None
    apt: str = ""
    version: str = ""

    def describe(self) -> str:
        return str(self.file) if self.file else f"apt:{self.apt}" + (f"={self.version}" if self.version else "")


@dataclass(frozen=True)
class HealthProbe:
    type: str
    timeout: float = 60.0
    host: str = "127.0.0.1"
    port: int = 0
    url: str = ""
    expect_status: int = 200
    command: str = ""
    expect_output: str = ""
    expect_rc: int = 0


@dataclass(frozen=True)
class Lifecycle:
    service: str = ""
    start: str = ""
    stop: str = ""
    restart: str = ""
    status: str = ""
    install: str = ""  # the vendor's own install command (default: the package manager, or unpack a tar.gz)
    uninstall: str = ""  # ... and its uninstall command (required with install)
    install_dir: str = ""
    ports: tuple[int, ...] = ()
    process: str = ""
    pidfile: str = ""
    keep_users: tuple[str, ...] = ()
    keep_paths: tuple[str, ...] = ()  # paths the package leaves on purge on purpose (a web root's placeholder page)
    start_timeout: float = 120.0
    stop_timeout: float = 120.0
    install_timeout: float = 900.0
    recovery_limit: float = 900.0
    health: HealthProbe | None = None

    @property
    def has_service(self) -> bool:
        return bool(self.service or self.start)


@dataclass(frozen=True)
class SmokeTest:
    name: str
    command: str = ""  # a command run on the target, or:
    script: Path | None = None  # a script from the submission, uploaded and run on the target
    expect_rc: int = 0
    expect_output: str = ""
    timeout: float = 60.0


@dataclass
class Product:
    id: str
    vendor: str
    name: str
    version: str
    category: str
    contact: str
    platforms: list[Platform]
    artifacts: list[Artifact]
    lifecycle: Lifecycle
    smoke: list[SmokeTest]
    workloads: list[dict[str, Any]]
    path: Path
    extra: dict[str, Any] = field(default_factory=dict)
    certify_suites: list[str] = field(default_factory=list)  # [certify] suites: run after compat
    parity_file: Path | None = None  # [migration] parity: behaviour-parity checks of this product

    def identity(self) -> dict[str, Any]:
        """The identity fields of the shared contract (what product.json and the whitelist carry)."""
        return {"id": self.id, "vendor": self.vendor, "name": self.name, "version": self.version,
                "category": self.category, "contact": self.contact,
                "platforms": [asdict(p) for p in self.platforms]}

    def artifacts_for(self, arch: str) -> list[Artifact]:
        """Artifacts installed on a target of `arch` (its own plus the architecture-independent ones)."""
        return [a for a in self.artifacts if a.arch in (arch, "all")]

    def submission_files(self) -> list[Path]:
        """The files beside product.toml that it refers to (for evidence bundles); local artifacts excluded."""
        files = [t.script for t in self.smoke if t.script] + ([self.parity_file] if self.parity_file else [])
        criteria = self.path.parent / "perf-criteria.toml"
        return files + ([criteria] if criteria.is_file() else [])

    def declared_archs(self) -> list[str]:
        return sorted({p.arch for p in self.platforms})

    @property
    def folder(self) -> Path:
        return self.path.parent


def canonical_arch(value: str) -> str | None:
    return arches.canonical(value)


def manifest_path(path: str | Path) -> Path:
    """A product folder or its product.toml -> the product.toml path."""
    p = Path(path)
    return p / MANIFEST if p.is_dir() else p


def load_product(path: str | Path) -> Product:
    """Load and validate a submission (folder or product.toml); InputError lists every problem."""
    try:
        source = manifest_path(path).resolve() if Path(path).exists() else manifest_path(path)
        found = source.is_file()
    except (OSError, RuntimeError) as exc:  # a name too long for the file system, a symlink loop
        raise InputError(f"{path}: cannot open a product manifest here: {getattr(exc, 'strerror', None) or exc}") from None
    if not found:
        raise InputError(f"{source}: no product manifest here (expected a folder with {MANIFEST} or the file itself)")
    data = read_toml(source, "product manifest")
    problems = Problems("product manifest", source)
    product = _parse(data, source, problems)
    problems.raise_if_any()
    assert product is not None
    return product


# -- field readers: each reports its own problem and returns a usable default -------------------

def _text(table: dict, key: str, where: str, problems: Problems, required: bool = False,
          pattern: re.Pattern | None = None, form: str = "", default: str = "", limit: int = TEXT_CHARS,
          command: bool = False) -> str:
    """A string field: present if required, at most `limit` characters, one line unless it is a
    command (commands may hold newlines and tabs, no other control characters), and matching
    `pattern` whole."""
    if key not in table:
        if required:
            problems.add(f"{where}.{key}", f"missing; expected {form or 'a non-empty string'}")
        return default
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        problems.add(f"{where}.{key}", f"expected {form or 'a non-empty string'}, got {shown(value)}")
        return default
    if too_long(value, limit):
        problems.add(f"{where}.{key}", f"expected {form or 'a string'} of {too_long(value, limit)}")
        return default
    if (CONTROL_RE if command else ANY_CONTROL_RE).search(value):
        allowed = "" if not command else " (other than tab and newline)"
        problems.add(f"{where}.{key}", f"control characters{allowed} are not allowed, got {shown(value)}")
        return default
    if pattern is not None and not pattern.fullmatch(value):
        problems.add(f"{where}.{key}", f"expected {form}, got {shown(value)}")
        return default
    return value


def _command(table: dict, key: str, where: str, problems: Problems) -> str:
    return _text(table, key, where, problems, form="a shell command run on the target", limit=COMMAND_CHARS,
                 command=True)


def _output(table: dict, key: str, where: str, problems: Problems) -> str:
    """An expected output: any text (even empty), bounded."""
    value = table.get(key, "")
    if not isinstance(value, str):
        problems.add(f"{where}.{key}", f"expected a string, got {shown(value)}")
        return ""
    if too_long(value, COMMAND_CHARS):
        problems.add(f"{where}.{key}", f"expected a string of {too_long(value, COMMAND_CHARS)}")
        return ""
    return value


def _number(table: dict, key: str, where: str, problems: Problems, default: float,
            low: float = 0.001, high: float = 86400.0, integer: bool = False) -> Any:
    if key not in table:
        return default
    value = table[key]
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or not (low <= value <= high):  # nan fails every comparison
        kind = "an integer" if integer else "a number"
        problems.add(f"{where}.{key}", f"expected {kind} from {low:g} to {high:g}, got {shown(value)}")
        return default
    return value


def _unknown(table: dict, allowed: tuple[str, ...], where: str, problems: Problems) -> None:
    for key in table:
        if key not in allowed:
            problems.add(f"{where}.{key}", f"unknown field (allowed: {', '.join(allowed)})")


def _table(data: dict, key: str, where: str, problems: Problems) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        problems.add(where, f"expected a table [{key}], got {type(value).__name__}")
        return {}
    return value


def _list_of_tables(data: dict, key: str, where: str, problems: Problems) -> list[dict]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        problems.add(where, f"expected an array of tables [[{key}]]")
        return []
    return value


# -- the sections --------------------------------------------------------------------------------

def _parse(data: dict, source: Path, problems: Problems) -> Product | None:
    _unknown(data, ("product", "artifacts", "lifecycle", "smoke", "certify") + PASSTHROUGH, "manifest", problems)
    ident = _table(data, "product", "[product]", problems)
    if "product" not in data:
        problems.add("[product]", "missing; expected a [product] table with vendor, name, version, category, contact, platforms")
    _unknown(ident, ("id", "vendor", "name", "version", "category", "contact", "platforms"), "[product]", problems)
    pid = _text(ident, "id", "[product]", problems, pattern=ID_RE,
                form="letters, digits and ._+- (at most 128, starting with a letter or digit)",
                default=source.parent.name)
    if "id" not in ident and not ID_RE.fullmatch(pid):
        problems.add("[product].id", f"the folder name {shown(pid)} is not a valid id; give id = \"...\" "
                     "(letters, digits and ._+-)")
    vendor = _text(ident, "vendor", "[product]", problems, required=True)
    name = _text(ident, "name", "[product]", problems, required=True)
    version = _text(ident, "version", "[product]", problems, required=True)
    category = _text(ident, "category", "[product]", problems, required=True, form=f"one of {', '.join(CATEGORIES)}")
    if category and category not in CATEGORIES:
        problems.add("[product].category", f"expected one of {', '.join(CATEGORIES)}, got {shown(category)}")
    contact = _text(ident, "contact", "[product]", problems, required=True)
    platforms = _platforms(ident, problems)
    artifacts = _artifacts(data, source.parent, problems)
    lifecycle = _lifecycle(_table(data, "lifecycle", "[lifecycle]", problems), problems)
    smoke = _smoke(data, source.parent, problems)
    workloads = data.get("workloads", [])
    if not isinstance(workloads, list):
        workloads = [workloads] if isinstance(workloads, dict) else []
    declared = {p.arch for p in platforms}
    provided = {a.arch for a in artifacts}
    for arch in sorted(declared):
        if artifacts and arch not in provided and "all" not in provided:
            problems.add("[[artifacts]]", f"platform arch {arch} is declared but no artifact has arch = \"{arch}\"")
    _suite_sections(data, source, problems)
    certify_suites, parity_file = _certify_suites(data, problems), _parity_file(data, source, problems)
    if "migration" in certify_suites and "parity" not in (data.get("migration") or {}):
        problems.add("[certify].suites", "asks for migration but the manifest has no [migration] parity file")
    return Product(id=pid, vendor=vendor, name=name, version=version, category=category, contact=contact,
                   platforms=platforms, artifacts=artifacts, lifecycle=lifecycle, smoke=smoke,
                   workloads=[w for w in workloads if isinstance(w, dict)], path=source,
                   extra={k: data[k] for k in PASSTHROUGH if k in data and k != "workloads"},
                   certify_suites=certify_suites, parity_file=parity_file)


def _submission_file(table: dict, key: str, where: str, folder: Path, problems: Problems, form: str) -> Path | None:
    """A file the manifest refers to (artifact, smoke script, parity file), resolved, or None.

    These files are read by `product inspect`, uploaded to targets and copied into evidence
    bundles: they must be the submission's own. So the path is relative, and after resolving `..`
    and every symlink it still lies inside the product folder: never a file elsewhere on the
    controller."""
    text = _text(table, key, where, problems, form=form, limit=PATH_CHARS)
    if not text:
        return None
    if PurePosixPath(text).is_absolute():
        problems.add(f"{where}.{key}", f"expected {form}, got the absolute path {shown(text)}")
        return None
    try:
        path = (folder / text).resolve()
        if not path.is_relative_to(folder.resolve()):
            problems.add(f"{where}.{key}", f"must be a file inside the product folder {folder}, got {shown(text)}, "
                         f"which leads to {path}")
            return None
        if not path.is_file():
            problems.add(f"{where}.{key}", f"no such file: {path}")
            return None
    except (OSError, RuntimeError) as exc:  # a name too long, a symlink loop (RuntimeError), a folder we may not read
        problems.add(f"{where}.{key}", f"cannot use {shown(text)}: {getattr(exc, 'strerror', None) or exc}")
        return None
    return path


def _certify_suites(data: dict, problems: Problems) -> list[str]:
    """`[certify] suites = ["perf", "migration"]`: what certify runs after the compat suite."""
    table = _table(data, "certify", "[certify]", problems)
    _unknown(table, ("suites",), "[certify]", problems)
    suites = table.get("suites", [])
    if not isinstance(suites, list) or not all(isinstance(s, str) for s in suites):
        problems.add("[certify].suites", f"expected a list of suite names ({', '.join(CERTIFY_SUITES)}), got {shown(suites)}")
        return []
    for name in suites:
        if name not in CERTIFY_SUITES:
            problems.add("[certify].suites", f"unknown suite {shown(name)} (expected {', '.join(CERTIFY_SUITES)}; "
                         "compat always runs)")
    return [s for s in dict.fromkeys(suites) if s in CERTIFY_SUITES]


def _parity_file(data: dict, source: Path, problems: Problems) -> Path | None:
    """`[migration] parity = "parity.toml"`: the product's behaviour-parity file, next to product.toml."""
    table = _table(data, "migration", "[migration]", problems)
    _unknown(table, ("parity",), "[migration]", problems)
    if "parity" not in table:
        return None
    return _submission_file(table, "parity", "[migration]", source.parent, problems,
                            "a parity file path relative to the product folder")


def _suite_sections(data: dict, source: Path, problems: Problems) -> None:
    """[[workloads]] and [perf.service] belong to the perf suite; validate them here too, so
    `xch product validate` reports their problems with the rest."""
    from harness.perf.workloads import parse_service_config, parse_workloads

    parse_workloads(data, source, problems)
    parse_service_config(data, source, problems)


def _platforms(ident: dict, problems: Problems) -> list[Platform]:
    raw = ident.get("platforms")
    form = 'an array like [{ arch = "aarch64", os = "debian", os_version = "12" }]'
    if raw is None:
        problems.add("[product].platforms", f"missing; expected {form}")
        return []
    if not isinstance(raw, list) or not raw:
        problems.add("[product].platforms", f"expected {form}, got {shown(raw)}")
        return []
    result = []
    for i, item in enumerate(raw):
        where = f"[product].platforms[{i}]"
        if not isinstance(item, dict):
            problems.add(where, f"expected a table {{ arch, os, os_version }}, got {shown(item)}")
            continue
        _unknown(item, ("arch", "os", "os_version"), where, problems)
        arch_text = _text(item, "arch", where, problems, required=True, form="an architecture such as aarch64 or x86_64")
        arch = canonical_arch(arch_text) if arch_text else None
        if arch_text and (arch is None or arch == "all"):
            problems.add(f"{where}.arch", f"expected one of {', '.join(sorted(set(ARCH_ALIASES) - {'all', 'noarch', 'any'}))}, "
                         f"got {shown(arch_text)}")
        os_id = _text(item, "os", where, problems, required=True, pattern=OS_RE,
                      form="an os-release ID in lower case (debian, openeuler, kylin, uos...)")
        version = item.get("os_version")
        if isinstance(version, (int, float)) and not isinstance(version, bool):
            version = str(version)
        if not isinstance(version, str) or not OS_VERSION_RE.fullmatch(version):
            problems.add(f"{where}.os_version", f"expected a version string such as \"12\" or \"22.03\", got {shown(version)}")
            version = ""
        if arch and arch != "all" and os_id and version:
            result.append(Platform(arch, os_id, version))
    return result


def _artifacts(data: dict, folder: Path, problems: Problems) -> list[Artifact]:
    result = []
    tables = _list_of_tables(data, "artifacts", "[[artifacts]]", problems)
    if "artifacts" not in data:
        problems.add("[[artifacts]]", "missing; expected at least one [[artifacts]] with arch and apt or file")
    for i, item in enumerate(tables):
        where = f"[[artifacts]][{i}]"
        _unknown(item, ("arch", "apt", "file", "version", "type"), where, problems)
        arch_text = _text(item, "arch", where, problems, required=True, form="aarch64, x86_64, ... or all")
        arch = canonical_arch(arch_text) if arch_text else None
        if arch_text and arch is None:
            problems.add(f"{where}.arch", f"expected an architecture such as aarch64, x86_64 or all, got {shown(arch_text)}")
        has_apt, has_file = "apt" in item, "file" in item
        if has_apt == has_file:
            problems.add(where, "give exactly one of apt = \"package-name\" or file = \"path/to/package\"")
        apt = _text(item, "apt", where, problems, pattern=APT_NAME_RE,
                    form="a Debian package name (lower case letters, digits and +.-)") if has_apt else ""
        version = _text(item, "version", where, problems, pattern=APT_VERSION_RE,
                        form="a package version (letters, digits and .+~:-)")
        if version and not has_apt:
            problems.add(f"{where}.version", "only apt artifacts take a version pin")
        path: Path | None = None
        kind = ""
        if has_file:
            path = _submission_file(item, "file", where, folder, problems, "a path relative to the product folder")
            kind = _type_of(item["file"]) if path else ""
        elif apt:
            kind = "deb"
        if "type" in item:
            kind = _text(item, "type", where, problems, form=f"one of {', '.join(ARTIFACT_TYPES)}")
            if kind and kind not in ARTIFACT_TYPES:
                problems.add(f"{where}.type", f"expected one of {', '.join(ARTIFACT_TYPES)}, got {shown(kind)}")
        elif has_file and path is not None and not kind:
            problems.add(f"{where}.file", f"cannot tell the type from the name; expected .deb, .rpm or .tar.gz "
                         f"(or give type = ...), got {shown(path.name)}")
        if has_apt and kind not in ("", "deb"):
            problems.add(f"{where}.type", "apt artifacts are .deb packages")
        if arch and (apt or path) and kind in ARTIFACT_TYPES:
            result.append(Artifact(arch=arch, type=kind, file=path, apt=apt, version=version))
    types = {a.type for a in result}
    if len(types) > 1:
        problems.add("[[artifacts]]", f"mixed artifact types {sorted(types)}; one product installs one way")
    return result


def install_dir_allowed(path: str) -> bool:
    """Whether `path` may be a product's install_dir (see INSTALL_DIR_FORM): removing it whole
    must never take a system folder, or the folder other products live in, with it."""
    pure = PurePosixPath(path)
    if not pure.is_absolute() or str(pure) != path or ".." in pure.parts or path.startswith("//"):
        return False  # not normalised: /opt/acme/../../etc, /opt//acme, /opt/acme/
    parts = pure.parts[1:]
    if len(parts) < 2:
        return False
    top = "/" + parts[0]
    if top == "/usr":
        return len(parts) >= 3 and parts[1] == "local" and parts[2] not in USR_LOCAL_SYSTEM
    return top not in SYSTEM_FOLDERS


def _type_of(name: str) -> str:
    lower = name.lower()
    for suffix, kind in ((".deb", "deb"), (".rpm", "rpm"), (".tar.gz", "tar.gz"), (".tgz", "tar.gz")):
        if lower.endswith(suffix):
            return kind
    return ""


def _lifecycle(table: dict, problems: Problems) -> Lifecycle:
    w = "[lifecycle]"
    _unknown(table, ("service", "start", "stop", "restart", "status", "install", "uninstall", "install_dir", "ports",
                     "process", "pidfile",
                     "keep_users", "keep_paths", "start_timeout", "stop_timeout", "install_timeout", "recovery_limit",
                     "health"),
             w, problems)
    service = _text(table, "service", w, problems, pattern=SERVICE_RE,
                    form="a service/unit name (letters, digits and @._+:-)")
    commands = {k: _command(table, k, w, problems) for k in ("start", "stop", "restart", "status", "install", "uninstall")}
    if commands["start"] and not commands["stop"]:
        problems.add(f"{w}.stop", "an explicit start command needs an explicit stop command")
    if commands["install"] and not commands["uninstall"]:
        problems.add(f"{w}.uninstall", "an explicit install command needs an explicit uninstall command "
                     "(the compat suite checks that uninstalling leaves nothing behind)")
    install_dir = _text(table, "install_dir", w, problems, form=INSTALL_DIR_FORM, limit=PATH_CHARS)
    if install_dir and not install_dir_allowed(install_dir):
        problems.add(f"{w}.install_dir", f"expected {INSTALL_DIR_FORM}, got {shown(install_dir)}")
        install_dir = ""
    pidfile = _text(table, "pidfile", w, problems, pattern=ABSOLUTE_PATH_RE, form="an absolute path", limit=PATH_CHARS)
    process = _text(table, "process", w, problems, pattern=PROCESS_RE,
                    form="the executable name of the main process (no slashes, at most 64 characters)")
    ports: list[int] = []
    raw_ports = table.get("ports", [])
    if not isinstance(raw_ports, list):
        problems.add(f"{w}.ports", f"expected an array of TCP port numbers, got {shown(raw_ports)}")
        raw_ports = []
    for i, port in enumerate(raw_ports):
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            problems.add(f"{w}.ports[{i}]", f"expected an integer port 1-65535, got {shown(port)}")
        else:
            ports.append(port)
    users: list[str] = []
    raw_users = table.get("keep_users", [])
    if not isinstance(raw_users, list):
        problems.add(f"{w}.keep_users", f"expected an array of user names, got {shown(raw_users)}")
        raw_users = []
    for i, user in enumerate(raw_users):
        if not isinstance(user, str) or not USER_RE.fullmatch(user):
            problems.add(f"{w}.keep_users[{i}]", f"expected a user name, got {shown(user)}")
        else:
            users.append(user)
    paths = _keep_paths(table.get("keep_paths", []), f"{w}.keep_paths", problems)
    health = _health(table.get("health"), problems) if "health" in table else None
    if (health or ports) and not (service or commands["start"]):
        problems.add(w, "health or ports are declared but nothing starts the service; give service or start/stop")
    return Lifecycle(
        service=service, install_dir=install_dir, pidfile=pidfile, process=process or service,
        ports=tuple(ports), keep_users=tuple(users), keep_paths=paths, health=health, **commands,
        start_timeout=_number(table, "start_timeout", w, problems, 120.0),
        stop_timeout=_number(table, "stop_timeout", w, problems, 120.0),
        install_timeout=_number(table, "install_timeout", w, problems, 900.0),
        recovery_limit=_number(table, "recovery_limit", w, problems, 900.0))


KEEP_PATH_RE = re.compile(r"/(?:[A-Za-z0-9._+@-]+/)*[A-Za-z0-9._+@-]+")


def _keep_paths(raw: Any, where: str, problems: Problems) -> tuple[str, ...]:
    """Exact absolute paths the residue check accepts after uninstall (no globs, no `..`, at most 50)."""
    if not isinstance(raw, list):
        problems.add(where, f"expected an array of absolute paths, got {shown(raw)}")
        return ()
    if len(raw) > 50:
        problems.add(where, f"at most 50 paths, got {len(raw)}")
        return ()
    paths = []
    for i, path in enumerate(raw):
        if not isinstance(path, str) or not KEEP_PATH_RE.fullmatch(path) or \
                any(part in (".", "..") for part in path.split("/")):
            problems.add(f"{where}[{i}]", f"expected an absolute path without '.' or '..' parts, got {shown(path)}")
        elif path in ("/etc", "/usr", "/var", "/opt", "/home", "/root", "/srv", "/tmp"):
            problems.add(f"{where}[{i}]", f"{path} is a system folder; name the product's own paths")
        else:
            paths.append(path)
    return tuple(paths)


def _health(raw: Any, problems: Problems) -> HealthProbe | None:
    w = "[lifecycle.health]"
    if not isinstance(raw, dict):
        problems.add(w, f"expected a table with type = tcp|http|command, got {shown(raw)}")
        return None
    _unknown(raw, ("type", "timeout", "host", "port", "url", "expect_status", "command", "expect_output", "expect_rc"),
             w, problems)
    kind = _text(raw, "type", w, problems, required=True, form=f"one of {', '.join(HEALTH_TYPES)}")
    if kind and kind not in HEALTH_TYPES:
        problems.add(f"{w}.type", f"expected one of {', '.join(HEALTH_TYPES)}, got {shown(kind)}")
        return None
    probe = HealthProbe(
        type=kind,
        timeout=_number(raw, "timeout", w, problems, 60.0),
        host=_text(raw, "host", w, problems, pattern=PROBE_HOST_RE, form="a host name or IP address",
                   default="127.0.0.1"),
        port=_number(raw, "port", w, problems, 0, low=1, high=65535, integer=True),
        url=_text(raw, "url", w, problems, pattern=URL_RE, form="an http:// or https:// URL", limit=PATH_CHARS),
        expect_status=_number(raw, "expect_status", w, problems, 200, low=100, high=599, integer=True),
        command=_command(raw, "command", w, problems),
        expect_output=_output(raw, "expect_output", w, problems),
        expect_rc=_number(raw, "expect_rc", w, problems, 0, low=0, high=255, integer=True))
    if kind == "tcp" and not probe.port:
        problems.add(f"{w}.port", "a tcp probe needs port = N")
    if kind == "http" and not probe.url:
        problems.add(f"{w}.url", "an http probe needs url = \"http://127.0.0.1:PORT/...\"")
    if kind == "command" and not probe.command:
        problems.add(f"{w}.command", "a command probe needs command = \"...\"")
    return probe


def _smoke(data: dict, folder: Path, problems: Problems) -> list[SmokeTest]:
    result = []
    names: set[str] = set()
    for i, item in enumerate(_list_of_tables(data, "smoke", "[[smoke]]", problems)):
        w = f"[[smoke]][{i}]"
        _unknown(item, ("name", "command", "script", "expect_rc", "expect_output", "timeout"), w, problems)
        name = _text(item, "name", w, problems, required=True, pattern=SMOKE_NAME_RE,
                     form="a short name (one line, at most 80 characters)")
        if name in names:
            problems.add(f"{w}.name", f"duplicate smoke test name {shown(name)}")
        names.add(name)
        if ("command" in item) == ("script" in item):
            problems.add(w, "give exactly one of command (run on the target) or script (a file of the submission, "
                         "uploaded and run on the target)")
        command = _command(item, "command", w, problems)
        script = None
        if "script" in item:
            script = _submission_file(item, "script", w, folder, problems,
                                      "a script path relative to the product folder")
        expect_output = _output(item, "expect_output", w, problems)
        if name and (command or script):
            result.append(SmokeTest(name=name, command=command, script=script, expect_output=expect_output,
                                    expect_rc=_number(item, "expect_rc", w, problems, 0, low=0, high=255, integer=True),
                                    timeout=_number(item, "timeout", w, problems, 60.0)))
    return result


# -- product.json (shared contract) ---------------------------------------------------------------

def product_record(product: Product, digests: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The `<run_dir>/product.json` document: identity plus artifact digests (may be empty before a fetch)."""
    return {**product.identity(), "artifacts": [
        {"arch": d.get("arch", ""), "file": d.get("file", ""), "sha256": d.get("sha256", ""), "sm3": d.get("sm3", "")}
        for d in (digests or [])]}


def write_product_json(run_dir: Path, product: Product, digests: list[dict[str, Any]] | None = None) -> Path:
    path = Path(run_dir) / "product.json"
    atomic_write_json(path, product_record(product, digests))
    return path


def describe(product: Product) -> dict[str, Any]:
    """A JSON-able view of the whole manifest (for `xch product validate --json`)."""
    data = asdict(product)
    data["path"] = str(product.path)
    for artifact in data["artifacts"]:
        artifact["file"] = str(artifact["file"]) if artifact["file"] else ""
    return json.loads(json.dumps(data, default=str))
