"""Property-based tests: random and hostile inventory input gives a documented error, never a crash."""

from __future__ import annotations

import math
import string
import tempfile
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.core.errors import InputError
from harness.inventory import Target, load_file, load_inventory, parse_shard, shard
from harness.lab.state import toml_string

NO_SSH_CONFIG = Path("/nonexistent/ssh_config")
FIELDS = ["name", "host", "port", "user", "identity_file", "use_agent", "labels", "jump", "sudo",
          "host_key_policy", "connect_timeout", "transport", "colour", "port "]
toml_values = st.one_of(
    st.integers(min_value=-10**6, max_value=10**6), st.booleans(), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(string.ascii_letters, min_size=1, max_size=5), st.text(max_size=5), max_size=3),
)


def toml_literal(value) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_literal(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    if isinstance(value, float):
        return repr(value) if "e" in repr(value) or "." in repr(value) else repr(value) + ".0"
    return json.dumps(value)


def load_text(text: str | bytes):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inv.toml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        try:
            return load_file(path, NO_SSH_CONFIG)
        except InputError as exc:
            assert str(path) in exc.message  # every error names the file
            return exc


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_crash(data):
    load_text(data)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(FIELDS), toml_values, max_size=6), max_size=4))
def test_random_targets_are_loaded_or_rejected_with_the_field_named(entries):
    text = "".join("[[target]]\n" + "".join(f"{json_key(k)} = {toml_literal(v)}\n" for k, v in e.items())
                   for e in entries)
    result = load_text(text)
    if isinstance(result, InputError):
        assert "target" in result.message or "TOML" in result.message
    else:
        for target in result:
            assert isinstance(target, Target) and target.name and target.host
            assert isinstance(target.port, int) and 1 <= target.port <= 65535


def json_key(key: str) -> str:
    import json

    return json.dumps(key)


@given(st.lists(st.text(string.ascii_lowercase, min_size=1, max_size=6), min_size=1, max_size=30, unique=True),
       st.integers(min_value=1, max_value=8))
def test_shards_are_disjoint_cover_everything_and_balanced(names, count):
    targets = [Target(name=n, host="h") for n in names]
    slices = [shard(targets, i, count) for i in range(1, count + 1)]
    flat = [t.name for s in slices for t in s]
    assert sorted(flat) == sorted(names) and len(flat) == len(set(flat))
    sizes = [len(s) for s in slices]
    assert max(sizes) - min(sizes) <= 1
    assert slices == [shard(list(reversed(targets)), i, count) for i in range(1, count + 1)]  # order-independent


@pytest.mark.parametrize("bad", ["0/2", "3/2", "x/2", "1", "", "1/0"])
def test_bad_shard_specs(bad):
    with pytest.raises(InputError, match="expected I/N"):
        parse_shard(bad)


# -- hostile names, hosts and timeouts (issue 12) ---------------------------------------------------

CONTROL = {chr(c) for c in range(32)} | {"\x7f"}
hostile_names = st.one_of(
    st.text(max_size=12),
    st.sampled_from([".", "..", "a\n", "\nb", "a\x00b", "a/b", "../x", "a\\b", " a", "a ", "x" * 200, "-o", "kp-01"]),
    st.text(string.ascii_lowercase, min_size=1, max_size=4).map(lambda n: n + "\n"),
)
hostile_timeouts = st.one_of(st.floats(), st.sampled_from([math.nan, math.inf, -math.inf, 1e308, 0.0, -1.0]),
                             st.integers(-10, 10**9))


def timeout_literal(value: float | int) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(hostile_names, hostile_names, st.one_of(st.just(""), hostile_names), hostile_timeouts,
                          hostile_timeouts), min_size=1, max_size=3))
def test_loaded_targets_have_safe_names_hosts_and_timeouts(entries):
    """Whatever the file says, a loaded target's name is one safe folder name, its host and jump one
    word, its timeouts positive, finite and bounded; anything else is refused naming the file."""
    text = "".join(f"[[target]]\nname = {toml_string(name)}\nhost = {toml_string(host)}\njump = {toml_string(jump)}\n"
                   f"connect_timeout = {timeout_literal(ct)}\ncommand_timeout = {timeout_literal(mt)}\n"
                   for name, host, jump, ct, mt in entries)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inv.toml"
        path.write_text(text, encoding="utf-8")
        try:
            inventory = load_inventory([path], ssh_config_path=NO_SSH_CONFIG)
        except InputError as exc:
            assert exc.exit_code == 2 and str(path) in exc.message
            assert all(len(line) < len(str(path)) + 1500 for line in exc.message.splitlines())
            return
    for target in inventory.targets:
        for name in [target.name] + ([target.jump] if target.jump else []):
            assert name not in (".", "..") and not CONTROL & set(name)
            assert PurePosixPath("logs", name).parent == PurePosixPath("logs"), name
        host = target.host
        assert not CONTROL & set(host) and not any(c.isspace() for c in host) and not host.startswith("-")
        assert 0 < target.connect_timeout <= 3600 and 0 < target.command_timeout <= 7 * 86400
        assert math.isfinite(target.connect_timeout) and math.isfinite(target.command_timeout)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=5), st.integers(min_value=0, max_value=4))
def test_every_cycle_and_duplicate_is_reported_in_one_pass(cycle, duplicates):
    """A ring of `cycle` targets (each jumping to the next) plus `duplicates` repeated names: one error
    names every duplicate and every member of the ring."""
    ring = [f"t{i}" for i in range(cycle)]
    text = "".join(f'[[target]]\nname = "{n}"\nhost = "h"\njump = "{ring[(i + 1) % cycle]}"\n' for i, n in enumerate(ring))
    text += "".join(f'[[target]]\nname = "{ring[i % cycle]}"\nhost = "dup"\n' for i in range(duplicates))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inv.toml"
        path.write_text(text)
        try:
            load_inventory([path], ssh_config_path=NO_SSH_CONFIG)
        except InputError as exc:
            message = exc.message
        else:
            raise AssertionError("a jump cycle was accepted")
    assert message.count("duplicate name") == duplicates
    for name in ring:
        assert (f"target '{name}': field 'jump' cannot name the target itself" if cycle == 1
                else f"target '{name}': field 'jump' forms a cycle: {name} ->") in message
