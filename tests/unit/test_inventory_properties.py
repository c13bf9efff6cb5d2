"""Property-based tests: random and hostile inventory input gives a documented error, never a crash."""

from __future__ import annotations

import string
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.core.errors import InputError
from harness.inventory import Target, load_file, parse_shard, shard

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
