"""Inventories of machines under test: `targets/*.toml`, validated, selectable by name or label.

A file holds an optional `[defaults]` table and one `[[target]]` table per machine:

    [defaults]
    user = "root"

    [[target]]
    name = "kunpeng-01"
    host = "10.1.2.3"            # or an alias from ~/.ssh/config
    port = 22
    identity_file = "~/.ssh/id_ed25519"
    labels = { role = "candidate", rack = "B3" }
    jump = "bastion"             # name of another target used as jump host
    sudo = true
    host_key_policy = "strict"   # or "tofu": accept and record an unknown key once

Every problem is reported with the file, the target and the field, and all problems of a file are
reported at once, so an engineer fixes an inventory in one pass.
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from harness.core.errors import InputError
from harness.core.problems import PATH_CHARS, TEXT_CHARS, Problems, shown, too_long
from harness.core.tomlfile import read_toml

HOST_KEY_POLICIES = ("strict", "tofu")
TRANSPORTS = ("ssh", "local")


@dataclass(frozen=True)
class Target:
    """One machine under test, as the inventory describes it (after ~/.ssh/config is applied)."""

    name: str
    host: str = ""
    port: int = 22
    user: str = ""
    identity_file: str = ""
    use_agent: bool = True
    password_env: str = ""  # name of an environment variable holding the password; never the password
    passphrase_env: str = ""  # same, for an encrypted identity file
    labels: dict[str, str] = field(default_factory=dict)
    jump: str = ""
    sudo: bool = False
    known_hosts: str = ""
    host_key_policy: str = "strict"
    connect_timeout: float = 10.0
    command_timeout: float = 300.0
    transport: str = "ssh"
    source: str = ""  # the inventory file this target came from

    def matches(self, selector: str) -> bool:
        """A selector is a target name, `key=value` on labels, or `*` for everything."""
        if selector in ("*", "all"):
            return True
        if "=" in selector:
            key, _, value = selector.partition("=")
            return self.labels.get(key.strip()) == value.strip()
        return self.name == selector

    def public_dict(self) -> dict[str, Any]:
        """What may be written to results and logs: no secrets (env var names only, never values)."""
        return {
            "name": self.name,
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "labels": dict(self.labels),
            "jump": self.jump,
            "sudo": self.sudo,
            "transport": self.transport,
            "source": self.source,
        }

    # Targets are hashable (frozen) but labels is a dict; hash on the name, which is unique.
    def __hash__(self) -> int:
        return hash(self.name)


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "host": (str,),
    "port": (int,),
    "user": (str,),
    "identity_file": (str,),
    "use_agent": (bool,),
    "password_env": (str,),
    "passphrase_env": (str,),
    "labels": (dict,),
    "jump": (str,),
    "sudo": (bool,),
    "known_hosts": (str,),
    "host_key_policy": (str,),
    "connect_timeout": (int, float),
    "command_timeout": (int, float),
    "transport": (str,),
}
_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", dict: "a table", float: "a number"}
assert set(_FIELD_TYPES) == {f.name for f in fields(Target)} - {"source"}


@dataclass
class Inventory:
    """All targets of the loaded files, in file order, names unique."""

    targets: list[Target]
    files: list[Path]

    def select(self, selectors: Iterable[str] | str | None) -> list[Target]:
        """Targets matching any selector (comma-separated allowed), sorted by name.

        An empty result is an error: a selection that matches nothing must never pass silently.
        """
        if isinstance(selectors, str):
            selectors = [selectors]
        wanted = [s.strip() for item in (selectors or ["*"]) for s in item.split(",") if s.strip()]
        if not wanted:
            wanted = ["*"]
        chosen = {t.name: t for t in self.targets if any(t.matches(s) for s in wanted)}
        if not chosen:
            known = ", ".join(sorted(t.name for t in self.targets)) or "none"
            files = ", ".join(str(f) for f in self.files) or "no inventory files"
            raise InputError(
                f"no target matches --targets {','.join(wanted)} (inventory: {files}; targets: {known})"
            )
        return [chosen[n] for n in sorted(chosen)]

    def get(self, name: str) -> Target:
        for t in self.targets:
            if t.name == name:
                return t
        raise InputError(f"no target named {name!r} in {', '.join(map(str, self.files))}")


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` (1-based) -> (I, N); raises InputError with the expected form."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise InputError(f"--shard {text!r}: expected I/N with 1 <= I <= N, e.g. 2/4")
    return int(match.group(1)), int(match.group(2))


def shard(targets: list[Target], index: int, count: int) -> list[Target]:
    """The I-th of N deterministic slices of a selection: round robin over names in sorted order.

    Every controller given the same inventory and selection computes the same slices, the slices
    are disjoint and together cover the selection, and their sizes differ by at most one.
    """
    ordered = sorted(targets, key=lambda t: t.name)
    return [t for position, t in enumerate(ordered) if position % count == index - 1]


def _type_ok(value: Any, types: tuple[type, ...]) -> bool:
    # bool is a subclass of int: `port = true` must not pass as an integer.
    if isinstance(value, bool) and bool not in types:
        return False
    return isinstance(value, types)


def _check_fields(where: str, table: dict[str, Any], problems: Problems) -> dict[str, Any]:
    """Type-check one table against Target's fields; collect every problem, return the good ones."""
    good: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _FIELD_TYPES:
            known = ", ".join(sorted(_FIELD_TYPES))
            problems.add(where, f"unknown field {shown(key)} (known fields: {known})")
            continue
        types = _FIELD_TYPES[key]
        if not _type_ok(value, types):
            expected = " or ".join(_TYPE_NAMES[t] for t in types)
            problems.add(where, f"field {key!r} must be {expected}, got {type(value).__name__} {shown(value)}")
            continue
        good[key] = value
    return good


# Names become folder names (logs/<name>/) and selectors (name, key=value, comma lists); hosts,
# users and paths reach paramiko and the file system. None of them may hold a control character.
NAME_CHARS = 128
TIMEOUT_LIMITS = {"connect_timeout": 3600.0, "command_timeout": 7 * 86400.0}  # seconds
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def target_name_ok(name: str) -> bool:
    """Whether `name` can be a target's name: one safe folder name (logs/<name>/) and one selector."""
    return (name == name.strip() and name not in (".", "..") and not CONTROL_RE.search(name)
            and not any(c in name for c in ",=/\\") and len(name) <= NAME_CHARS)


def _check_values(where: str, data: dict[str, Any], problems: Problems) -> None:
    """Checks beyond types: ranges, enumerations, names that are safe as folder names and selectors."""
    port = data.get("port", 22)
    if not 1 <= port <= 65535:
        problems.add(where, f"field 'port' must be between 1 and 65535, got {port}")
    if data.get("host_key_policy", "strict") not in HOST_KEY_POLICIES:
        problems.add(where, f"field 'host_key_policy' must be one of {HOST_KEY_POLICIES}, got {shown(data['host_key_policy'])}")
    if data.get("transport", "ssh") not in TRANSPORTS:
        problems.add(where, f"field 'transport' must be one of {TRANSPORTS}, got {shown(data['transport'])}")
    for key, high in TIMEOUT_LIMITS.items():
        if key in data and not 0 < data[key] <= high:  # also refuses nan (every comparison is false) and inf
            problems.add(where, f"field {key!r} must be a positive number of seconds up to {high:g}, got {data[key]}")
    for key, value in data.get("labels", {}).items():
        if not isinstance(value, (str, int, bool)):
            problems.add(where, f"label {shown(key)} must be a string, got {type(value).__name__}")
        elif CONTROL_RE.search(f"{key}{value}") or too_long(f"{key}{value}", TEXT_CHARS):
            problems.add(where, f"label {shown(key)}: key and value must be one line of at most {TEXT_CHARS} "
                         f"characters, got {shown(value)}")
        elif not key.strip() or any(c in key for c in ",="):
            problems.add(where, f"label key {shown(key)} must not be empty or contain ',' or '=' (selectors use them)")
    for key in ("name", "jump"):  # a jump names another target
        name = data.get(key, "")
        if name and not target_name_ok(name):
            problems.add(where, f"field {key!r} {shown(name)} must be one line of at most {NAME_CHARS} characters, "
                         "not '.' or '..', without ',', '=', '/', '\\' or surrounding spaces (it names the target's "
                         "log folder and is matched by selectors)")
    for key in ("host", "user"):
        value = data.get(key, "")
        if value and (CONTROL_RE.search(value) or any(c.isspace() for c in value) or value.startswith("-")
                      or too_long(value, TEXT_CHARS)):
            problems.add(where, f"field {key!r} must be one word of at most {TEXT_CHARS} characters, without "
                         f"control characters, spaces or a leading '-', got {shown(value)}")
    for key in ("identity_file", "known_hosts"):
        value = data.get(key, "")
        if value and (CONTROL_RE.search(value) or too_long(value, PATH_CHARS)):
            problems.add(where, f"field {key!r} must be a path of at most {PATH_CHARS} characters without "
                         f"control characters, got {shown(value)}")
    for key in ("password_env", "passphrase_env"):
        value = data.get(key, "")
        if value and not ENV_NAME_RE.fullmatch(value):
            problems.add(where, f"field {key!r} must name an environment variable (letters, digits and _), "
                         f"got {shown(value)}")


def _apply_ssh_config(data: dict[str, Any], ssh_config_path: Path | None) -> dict[str, Any]:
    """Honour ~/.ssh/config host aliases: fill host, port, user, identity file the inventory leaves out.

    Raises InputError naming the ssh config when it cannot be parsed or gives an unusable value."""
    path = ssh_config_path if ssh_config_path is not None else Path.home() / ".ssh" / "config"
    if not path.is_file() or data.get("transport") == "local":
        return data
    import paramiko  # imported here: inventory validation must not need the SSH stack

    try:
        config = paramiko.SSHConfig.from_path(str(path))
        found = config.lookup(data.get("host", ""))
    except (OSError, UnicodeDecodeError, paramiko.ssh_exception.ConfigParseError) as exc:
        raise InputError(f"{path}: cannot read the ssh config: {exc}") from None
    merged = dict(data)
    merged["host"] = found.get("hostname", data.get("host", ""))
    if "port" not in data and "port" in found:
        if not str(found["port"]).isdigit() or not 1 <= int(found["port"]) <= 65535:
            raise InputError(f"{path}: Port {shown(found['port'])} for host {data.get('host')!r} is not a port number")
        merged["port"] = int(found["port"])
    if "user" not in data and "user" in found:
        merged["user"] = found["user"]
    if "identity_file" not in data and found.get("identityfile"):
        candidate = os.path.expanduser(found["identityfile"][0])
        if os.path.exists(candidate):
            merged["identity_file"] = candidate
    return merged


def load_file(path: Path, ssh_config_path: Path | None = None, problems: Problems | None = None) -> list[Target]:
    """Parse and validate one inventory file; raise InputError listing every problem in it.

    With `problems` (load_inventory's collector over several files) problems are added there and
    the valid targets returned, so checks across targets (jump hosts) still run on them."""
    own = problems is None
    problems = Problems("inventory", path) if problems is None else problems
    try:
        raw = read_toml(path, "inventory", missing="inventory file not found")
    except InputError as exc:
        problems.absorb(exc)
        raw = None
    targets = _targets(Path(path), raw, ssh_config_path, problems) if raw is not None else []
    if own:
        problems.raise_if_any()
    return targets


def _targets(path: Path, raw: dict[str, Any], ssh_config_path: Path | None, problems: Problems) -> list[Target]:
    source = str(path)
    problems = problems.at(source)
    add = problems.add
    for key in raw:
        if key not in ("defaults", "target"):
            add("", f"unknown top-level key {shown(key)} (expected [defaults] and [[target]] tables)")
    defaults_raw = raw.get("defaults", {})
    if not isinstance(defaults_raw, dict):
        add("", "'defaults' must be a table")
        defaults_raw = {}
    defaults = _check_fields("[defaults]", defaults_raw, problems)
    if "name" in defaults:
        add("[defaults]", "field 'name' cannot have a default")
    entries = raw.get("target", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        add("", "'target' must be an array of tables ([[target]])")
        entries = []

    targets: list[Target] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries, start=1):
        label = entry.get("name") if isinstance(entry.get("name"), str) else f"#{index}"
        where = f"target {shown(label)}"
        data = {**defaults, **_check_fields(where, entry, problems)}
        if not data.get("name"):
            add(where, "missing required field 'name'")
            continue
        if data.get("transport", "ssh") == "ssh" and not data.get("host"):
            add(where, "missing required field 'host'")
            continue
        if data["name"] in seen:
            add(where, f"duplicate name (first defined as target #{seen[data['name']]})")
            continue
        seen[data["name"]] = index
        before = len(problems)
        _check_values(where, data, problems)
        if len(problems) > before:
            continue
        try:
            data = _apply_ssh_config(data, ssh_config_path)
        except InputError as exc:
            add(where, exc.message)
            continue
        data["labels"] = {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in data.get("labels", {}).items()}
        data.setdefault("user", getpass.getuser())
        try:
            for key in ("identity_file", "known_hosts"):
                if data.get(key):
                    expanded = Path(os.path.expanduser(data[key]))
                    if not expanded.is_absolute():
                        expanded = (path.parent / expanded).resolve()
                    data[key] = str(expanded)
        except (OSError, RuntimeError) as exc:  # a symlink loop (RuntimeError), a name too long
            add(where, f"field {key!r}: cannot resolve {shown(data[key])}: {getattr(exc, 'strerror', None) or exc}")
            continue
        if data.get("transport") == "local":
            data.setdefault("host", "localhost")
        targets.append(Target(source=source, **data))
    return targets


def default_inventory_files(project_dir: Path) -> list[Path]:
    """Every `targets/*.toml` of the project, in name order."""
    return sorted((project_dir / "targets").glob("*.toml"))


def load_inventory(files: Iterable[Path] | None = None, project_dir: Path | None = None,
                   ssh_config_path: Path | None = None) -> Inventory:
    """Load inventory files (default: every targets/*.toml); names must be unique across files.

    Every problem of every file is reported in one pass: a broken target is left out and the
    checks across targets (duplicate names, jump hosts and their cycles) run on the rest."""
    paths = list(files) if files else default_inventory_files(project_dir or Path.cwd())
    if not paths:
        where = (project_dir or Path.cwd()) / "targets"
        raise InputError(f"no inventory: {where} has no *.toml file (run `xch lab up` or pass --inventory FILE)")
    problems = Problems("inventory")
    targets: list[Target] = []
    origin: dict[str, str] = {}
    for path in paths:
        for target in load_file(Path(path), ssh_config_path, problems):
            if target.name in origin:
                problems.add(f"target {target.name!r}", f"duplicate name (also in {origin[target.name]})",
                             source=target.source)
                continue
            origin[target.name] = target.source
            targets.append(target)
    _check_jumps(targets, problems)
    problems.raise_if_any()
    return Inventory(targets=targets, files=[Path(p) for p in paths])


def _check_jumps(targets: list[Target], problems: Problems) -> None:
    """Jump hosts must be other known targets, and following them must end (no cycle)."""
    by_name = {t.name: t for t in targets}
    for target in targets:
        where = f"target {target.name!r}"
        if target.jump and target.jump not in by_name:
            problems.add(where, f"field 'jump' names unknown target {target.jump!r}", source=target.source)
        if target.jump == target.name:
            problems.add(where, "field 'jump' cannot name the target itself", source=target.source)
        hops, current = [target.name], target
        while current.jump in by_name and current.jump != current.name:
            if current.jump in hops:
                problems.add(where, "field 'jump' forms a cycle: " + " -> ".join(hops + [current.jump]),
                             source=target.source)
                break
            hops.append(current.jump)
            current = by_name[current.jump]
