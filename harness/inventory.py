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
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from harness.core.errors import InputError

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


def _check_fields(where: str, table: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    """Type-check one table against Target's fields; collect every problem, return the good ones."""
    good: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _FIELD_TYPES:
            known = ", ".join(sorted(_FIELD_TYPES))
            problems.append(f"{where}: unknown field {key!r} (known fields: {known})")
            continue
        types = _FIELD_TYPES[key]
        if not _type_ok(value, types):
            expected = " or ".join(_TYPE_NAMES[t] for t in types)
            problems.append(f"{where}: field {key!r} must be {expected}, got {type(value).__name__} {value!r}")
            continue
        good[key] = value
    return good


def _check_values(where: str, data: dict[str, Any], problems: list[str]) -> None:
    """Checks beyond types: ranges, enumerations, label values."""
    port = data.get("port", 22)
    if not 1 <= port <= 65535:
        problems.append(f"{where}: field 'port' must be between 1 and 65535, got {port}")
    if data.get("host_key_policy", "strict") not in HOST_KEY_POLICIES:
        problems.append(f"{where}: field 'host_key_policy' must be one of {HOST_KEY_POLICIES}, got {data['host_key_policy']!r}")
    if data.get("transport", "ssh") not in TRANSPORTS:
        problems.append(f"{where}: field 'transport' must be one of {TRANSPORTS}, got {data['transport']!r}")
    for key in ("connect_timeout", "command_timeout"):
        if key in data and data[key] <= 0:
            problems.append(f"{where}: field {key!r} must be a positive number of seconds, got {data[key]}")
    for key, value in data.get("labels", {}).items():
        if not isinstance(value, (str, int, bool)):
            problems.append(f"{where}: label {key!r} must be a string, got {type(value).__name__}")
    name = data.get("name", "")
    if name and (name != name.strip() or "," in name or "=" in name or "/" in name):
        problems.append(f"{where}: field 'name' {name!r} must not contain ',', '=', '/' or surrounding spaces")


def _apply_ssh_config(data: dict[str, Any], ssh_config_path: Path | None) -> dict[str, Any]:
    """Honour ~/.ssh/config host aliases: fill host, port, user, identity file the inventory leaves out."""
    path = ssh_config_path if ssh_config_path is not None else Path.home() / ".ssh" / "config"
    if not path.is_file() or data.get("transport") == "local":
        return data
    import paramiko  # imported here: inventory validation must not need the SSH stack

    config = paramiko.SSHConfig.from_path(str(path))
    alias = data.get("host", "")
    found = config.lookup(alias)
    merged = dict(data)
    merged["host"] = found.get("hostname", alias)
    if "port" not in data and "port" in found:
        merged["port"] = int(found["port"])
    if "user" not in data and "user" in found:
        merged["user"] = found["user"]
    if "identity_file" not in data and found.get("identityfile"):
        candidate = os.path.expanduser(found["identityfile"][0])
        if os.path.exists(candidate):
            merged["identity_file"] = candidate
    return merged


def load_file(path: Path, ssh_config_path: Path | None = None) -> list[Target]:
    """Parse and validate one inventory file; raise InputError listing every problem in it."""
    where_file = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{where_file}: inventory file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{where_file}: cannot read inventory file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{where_file}: not valid TOML: {exc}") from None

    problems: list[str] = []
    for key in raw:
        if key not in ("defaults", "target"):
            problems.append(f"{where_file}: unknown top-level key {key!r} (expected [defaults] and [[target]] tables)")
    defaults_raw = raw.get("defaults", {})
    if not isinstance(defaults_raw, dict):
        problems.append(f"{where_file}: 'defaults' must be a table")
        defaults_raw = {}
    defaults = _check_fields(f"{where_file}: [defaults]", defaults_raw, problems)
    if "name" in defaults:
        problems.append(f"{where_file}: [defaults]: field 'name' cannot have a default")
    entries = raw.get("target", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        problems.append(f"{where_file}: 'target' must be an array of tables ([[target]])")
        entries = []

    targets: list[Target] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries, start=1):
        label = entry.get("name") if isinstance(entry.get("name"), str) else f"#{index}"
        where = f"{where_file}: target {label!r}"
        data = {**defaults, **_check_fields(where, entry, problems)}
        if not data.get("name"):
            problems.append(f"{where}: missing required field 'name'")
            continue
        if data.get("transport", "ssh") == "ssh" and not data.get("host"):
            problems.append(f"{where}: missing required field 'host'")
            continue
        if data["name"] in seen:
            problems.append(f"{where}: duplicate name (first defined as target #{seen[data['name']]})")
            continue
        seen[data["name"]] = index
        before = len(problems)
        _check_values(where, data, problems)
        if len(problems) > before:
            continue
        data = _apply_ssh_config(data, ssh_config_path)
        data["labels"] = {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in data.get("labels", {}).items()}
        data.setdefault("user", getpass.getuser())
        for key in ("identity_file", "known_hosts"):
            if data.get(key):
                expanded = Path(os.path.expanduser(data[key]))
                if not expanded.is_absolute():
                    expanded = (path.parent / expanded).resolve()
                data[key] = str(expanded)
        if data.get("transport") == "local":
            data.setdefault("host", "localhost")
        targets.append(Target(source=where_file, **data))
    if problems:
        raise InputError("invalid inventory:\n  " + "\n  ".join(problems))
    return targets


def default_inventory_files(project_dir: Path) -> list[Path]:
    """Every `targets/*.toml` of the project, in name order."""
    return sorted((project_dir / "targets").glob("*.toml"))


def load_inventory(files: Iterable[Path] | None = None, project_dir: Path | None = None,
                   ssh_config_path: Path | None = None) -> Inventory:
    """Load inventory files (default: every targets/*.toml); names must be unique across files."""
    paths = list(files) if files else default_inventory_files(project_dir or Path.cwd())
    if not paths:
        where = (project_dir or Path.cwd()) / "targets"
        raise InputError(f"no inventory: {where} has no *.toml file (run `xch lab up` or pass --inventory FILE)")
    targets: list[Target] = []
    problems: list[str] = []
    origin: dict[str, str] = {}
    for path in paths:
        try:
            loaded = load_file(Path(path), ssh_config_path)
        except InputError as exc:
            problems.append(exc.message)
            continue
        for target in loaded:
            if target.name in origin:
                problems.append(f"{target.source}: target {target.name!r}: duplicate name (also in {origin[target.name]})")
                continue
            origin[target.name] = target.source
            targets.append(target)
    names = {t.name for t in targets}
    for target in targets:
        if target.jump and target.jump not in names:
            problems.append(f"{target.source}: target {target.name!r}: field 'jump' names unknown target {target.jump!r}")
        if target.jump == target.name:
            problems.append(f"{target.source}: target {target.name!r}: field 'jump' cannot name the target itself")
    by_name = {t.name: t for t in targets}
    for target in targets:
        hops, current = [target.name], by_name[target.name]
        while current.jump in by_name and current.jump != current.name:
            if current.jump in hops:
                problems.append(f"{target.source}: target {target.name!r}: field 'jump' forms a cycle: "
                                + " -> ".join(hops + [current.jump]))
                break
            hops.append(current.jump)
            current = by_name[current.jump]
    if problems:
        raise InputError("\n".join(problems))
    return Inventory(targets=targets, files=[Path(p) for p in paths])
