"""Property-based tests: random and hostile product manifests are loaded safely or refused clearly, never a crash.

Each example starts from a valid submission and replaces some fields with hostile values (control
characters, trailing newlines, paths that climb out or are absolute or symlinks leading outside,
system folders, megabyte strings, nan/inf, wrong types). Whatever hypothesis draws, the loader must
either refuse with an InputError (exit 2) whose every problem names the manifest file, or return a
Product whose values keep the promises: names are whole names, files lie inside the product folder,
install_dir is the product's own folder, every string and number is bounded.
"""

from __future__ import annotations

import math
import os
import string
import sys
import tempfile
from pathlib import Path, PurePosixPath

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.core.errors import EXIT_BAD_INPUT, InputError
from harness.lab.state import toml_key, toml_string
from harness.product import Product, load_product

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "products"))
import submissions  # noqa: E402

# What `rm -rf install_dir` must never take with it (install_dir may not be any of these or above them).
PRECIOUS = ["/", "/bin", "/boot", "/etc", "/etc/ssh", "/home", "/lib", "/lib64", "/opt", "/root", "/run", "/sbin",
            "/srv", "/tmp", "/usr", "/usr/bin", "/usr/lib", "/usr/local", "/usr/local/bin", "/usr/local/lib",
            "/usr/share", "/var", "/var/lib", "/var/log"]
CONTROL = {chr(c) for c in range(32)} | {"\x7f"}

BASE: dict = {
    "product": {"vendor": "ACME", "name": "Widget", "version": "1.0", "category": "tool", "contact": "qa@acme.example",
                "platforms": [{"arch": "x86_64", "os": "debian", "os_version": "12"}]},
    "artifacts": [{"arch": "x86_64", "file": "pkgs/widget.deb"}],
    "lifecycle": {"service": "widget", "ports": [8080], "keep_users": ["widget"],
                  "health": {"type": "tcp", "port": 8080}},
    "smoke": [{"name": "version", "command": "widget --version", "expect_output": "1.0"}],
}
FIELDS = [("product", "id"), ("product", "vendor"), ("product", "name"), ("product", "version"),
          ("product", "category"), ("product", "contact"), ("platforms", "arch"), ("platforms", "os"),
          ("platforms", "os_version"), ("artifacts", "arch"), ("artifacts", "apt"), ("artifacts", "file"),
          ("artifacts", "version"), ("artifacts", "type"), ("lifecycle", "service"), ("lifecycle", "start"),
          ("lifecycle", "stop"), ("lifecycle", "install"), ("lifecycle", "uninstall"), ("lifecycle", "install_dir"),
          ("lifecycle", "pidfile"), ("lifecycle", "process"), ("lifecycle", "ports"), ("lifecycle", "keep_users"),
          ("lifecycle", "start_timeout"), ("lifecycle", "recovery_limit"), ("health", "host"), ("health", "url"),
          ("health", "port"), ("health", "timeout"), ("smoke", "name"), ("smoke", "command"), ("smoke", "script"),
          ("smoke", "expect_output"), ("smoke", "timeout"), ("smoke", "expect_rc")]

names = st.text(string.ascii_lowercase + string.digits + "-._+", min_size=1, max_size=12)
hostile_text = st.one_of(
    st.text(max_size=40),
    names.map(lambda n: n + "\n"),
    names.map(lambda n: "\n" + n),
    st.sampled_from(["", " ", "a\x00b", "a\tb", "redis-server\n", "evil\r\n", "$(id)", "a; rm -rf /", "../../x.deb",
                     "../outside.deb", "/etc/hostname", "pkgs/link.deb", "pkgs/loop.deb", "linked/w.deb", "pkgs/widget.deb", "pkgs/../..",
                     ".", "..", "/", "/etc", "/usr/local", "/usr/local/bin", "/opt", "/opt/acme", "/opt/acme/../..",
                     "/opt//acme", "/opt/acme/", "/srv/acme", "/var/lib", "http://x/\n", "http://127.0.0.1:80/h"]),
    st.builds(lambda ch, n: ch * n, st.sampled_from("xé/\n"), st.integers(250, 70_000)),
)
hostile_value = st.one_of(
    hostile_text, st.floats(), st.integers(-2**63, 2**63 - 1), st.booleans(),
    st.lists(st.one_of(hostile_text, st.integers(-10, 70_000)), max_size=3),
    st.dictionaries(names, hostile_text, max_size=2),
)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"


def render(data: dict) -> str:
    out = []
    for table in ("product", "lifecycle"):
        out.append(f"[{table}]")
        out += [f"{toml_key(k)} = {toml_value(v)}" for k, v in data[table].items()]
    for array in ("artifacts", "smoke"):
        for item in data[array]:
            out.append(f"[[{array}]]")
            out += [f"{toml_key(k)} = {toml_value(v)}" for k, v in item.items()]
    return "\n".join(out) + "\n"


def manifest_with(changes: dict) -> dict:
    data = {k: ([dict(i) for i in v] if isinstance(v, list) else dict(v)) for k, v in BASE.items()}
    data["product"]["platforms"] = [dict(data["product"]["platforms"][0])]
    data["lifecycle"]["health"] = dict(data["lifecycle"]["health"])
    homes = {"product": data["product"], "platforms": data["product"]["platforms"][0],
             "artifacts": data["artifacts"][0], "lifecycle": data["lifecycle"], "health": data["lifecycle"]["health"],
             "smoke": data["smoke"][0]}
    for (table, key), value in changes.items():
        if table == "artifacts" and key == "apt":
            homes[table].pop("file", None)
        if table == "smoke" and key == "script":
            homes[table].pop("command", None)
        homes[table][key] = value
    return data


def single_line_values(product: Product) -> list[str]:
    life = product.lifecycle
    values = [product.id, product.vendor, product.name, product.version, product.category, product.contact,
              life.service, life.install_dir, life.pidfile, life.process, *life.keep_users]
    values += [v for p in product.platforms for v in (p.arch, p.os, p.os_version)]
    values += [v for a in product.artifacts for v in (a.apt, a.version, a.type)]
    values += [t.name for t in product.smoke]
    if life.health:
        values += [life.health.host, life.health.url]
    return values


def assert_promises_kept(product: Product, folder: Path) -> None:
    inside = folder.resolve()
    for value in single_line_values(product):
        assert not CONTROL & set(value), f"a control character got through: {value!r}"
        assert len(value) <= 4096, f"an unbounded value got through ({len(value)} characters)"
    for path in [a.file for a in product.artifacts if a.file] + [t.script for t in product.smoke if t.script]:
        assert path.resolve().is_relative_to(inside) and path.is_file(), f"{path} is not a file of the submission"
    life = product.lifecycle
    if life.install_dir:
        assert os.path.normpath(life.install_dir) == life.install_dir and PurePosixPath(life.install_dir).is_absolute()
        assert not any(PurePosixPath(p).is_relative_to(life.install_dir) for p in PRECIOUS), \
            f"removing install_dir {life.install_dir!r} would remove a system folder"
    for command in (life.start, life.stop, life.restart, life.status, life.install, life.uninstall,
                    *(t.command for t in product.smoke), *(t.expect_output for t in product.smoke)):
        assert len(command) <= 65536
    for number in (life.start_timeout, life.stop_timeout, life.install_timeout, life.recovery_limit,
                   *(t.timeout for t in product.smoke), *([life.health.timeout] if life.health else [])):
        assert math.isfinite(number) and 0 < number <= 86400
    assert all(1 <= p <= 65535 for p in life.ports)


def load_or_refuse(text: str):
    with tempfile.TemporaryDirectory() as tmp:
        folder = submissions.submission(Path(tmp), text)
        try:
            product = load_product(folder)
        except InputError as exc:
            assert exc.exit_code == EXIT_BAD_INPUT
            manifest = str((folder / "product.toml").resolve())
            assert exc.problems or str(folder) in exc.message, exc.message
            assert all(p.source == manifest for p in exc.problems), exc.message
            assert all(len(str(p)) < len(manifest) + 1500 for p in exc.problems), "an unbounded problem message"
            return exc
        assert_promises_kept(product, folder)
        return product


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.dictionaries(st.sampled_from(FIELDS), hostile_value, min_size=1, max_size=4))
def test_hostile_fields_are_refused_or_kept_safe(changes):
    load_or_refuse(render(manifest_with(changes)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIELDS), names, st.sampled_from(["\n", "\r", "\x00", "\t", "\x1b", "\x7f"]))
def test_a_control_character_in_a_name_is_never_accepted(field, name, control):
    """The `$`-before-newline class: a name with any control character added is refused or not a name field."""
    result = load_or_refuse(render(manifest_with({field: name + control})))
    if isinstance(result, Product):
        table, key = field
        assert key in ("start", "stop", "install", "uninstall", "command", "expect_output"), \
            f"{table}.{key} = {name + control!r} was accepted"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_random_bytes_never_crash(data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "product.toml").write_bytes(data)
        try:
            load_product(folder)
        except InputError as exc:
            assert exc.exit_code == EXIT_BAD_INPUT and str(folder) in exc.message
