"""Inventory loading and validation: every bad input names file, target and field."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.core.errors import InputError
from harness.inventory import load_file, load_inventory

GOOD = """
[defaults]
user = "tester"
command_timeout = 60

[[target]]
name = "kp-01"
host = "192.0.2.10"
labels = { role = "candidate", cpu = "kunpeng920" }

[[target]]
name = "x86-01"
host = "192.0.2.20"
port = 2222
labels = { role = "baseline" }
identity_file = "keys/id_ed25519"
jump = "kp-01"
sudo = true
"""


def write(tmp_path: Path, text: str, name: str = "inv.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_inventory_applies_defaults_and_resolves_paths(tmp_path):
    path = write(tmp_path, GOOD)
    inv = load_inventory([path], ssh_config_path=tmp_path / "no-ssh-config")
    kp, x86 = inv.get("kp-01"), inv.get("x86-01")
    assert kp.user == "tester" and kp.port == 22 and kp.command_timeout == 60
    assert x86.port == 2222 and x86.sudo and x86.jump == "kp-01"
    assert x86.identity_file == str(tmp_path / "keys" / "id_ed25519")  # relative to the inventory file
    assert kp.source == str(path)


def test_select_by_name_label_and_list(tmp_path):
    inv = load_inventory([write(tmp_path, GOOD)], ssh_config_path=tmp_path / "none")
    assert [t.name for t in inv.select("role=baseline")] == ["x86-01"]
    assert [t.name for t in inv.select("kp-01")] == ["kp-01"]
    assert [t.name for t in inv.select("x86-01,kp-01")] == ["kp-01", "x86-01"]  # sorted
    assert [t.name for t in inv.select(None)] == ["kp-01", "x86-01"]


def test_empty_selection_is_an_error_naming_the_known_targets(tmp_path):
    inv = load_inventory([write(tmp_path, GOOD)], ssh_config_path=tmp_path / "none")
    with pytest.raises(InputError) as err:
        inv.select("role=nothing")
    assert "no target matches --targets role=nothing" in err.value.message
    assert "kp-01" in err.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[[target]]\nname = "a"\nhost = "h"\ncolour = "red"\n', "target 'a': unknown field 'colour'"),
        ('[[target]]\nname = "a"\n', "target 'a': missing required field 'host'"),
        ('[[target]]\nhost = "h"\n', "target '#1': missing required field 'name'"),
        ('[[target]]\nname = "a"\nhost = "h"\nport = "22"\n', "target 'a': field 'port' must be an integer, got str '22'"),
        ('[[target]]\nname = "a"\nhost = "h"\nport = true\n', "field 'port' must be an integer, got bool"),
        ('[[target]]\nname = "a"\nhost = "h"\nport = 70000\n', "field 'port' must be between 1 and 65535"),
        ('[[target]]\nname = "a"\nhost = "h"\nsudo = "yes"\n', "field 'sudo' must be true or false"),
        ('[[target]]\nname = "a"\nhost = "h"\nhost_key_policy = "yolo"\n', "field 'host_key_policy' must be one of"),
        ('[[target]]\nname = "a"\nhost = "h"\n[[target]]\nname = "a"\nhost = "h2"\n', "target 'a': duplicate name"),
        ('[[target]]\nname = "a"\nhost = "h"\nlabels = "role=x"\n', "field 'labels' must be a table"),
        ('[[target]]\nname = "a,b"\nhost = "h"\n', "must not contain ','"),
        ('[targets]\nname = "a"\n', "unknown top-level key 'targets'"),
        ('[[target]\nname = "a"\n', "not valid TOML"),
    ],
)
def test_bad_inventories_name_file_target_and_field(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as err:
        load_file(path, tmp_path / "none")
    assert str(path) in err.value.message
    assert expected in err.value.message


def test_all_problems_of_a_file_are_reported_at_once(tmp_path):
    path = write(tmp_path, '[[target]]\nname = "a"\nhost = 5\nport = "x"\n[[target]]\nname = "b"\nhost = "h"\nfoo = 1\n')
    with pytest.raises(InputError) as err:
        load_file(path, tmp_path / "none")
    for fragment in ("field 'host' must be a string", "field 'port' must be an integer", "target 'b': unknown field 'foo'"):
        assert fragment in err.value.message


def test_duplicate_name_across_files_and_unknown_jump(tmp_path):
    a = write(tmp_path, '[[target]]\nname = "a"\nhost = "h"\n', "a.toml")
    b = write(tmp_path, '[[target]]\nname = "a"\nhost = "h2"\n[[target]]\nname = "b"\nhost = "h"\njump = "ghost"\n', "b.toml")
    with pytest.raises(InputError) as err:
        load_inventory([a, b], ssh_config_path=tmp_path / "none")
    assert f"{b}: target 'a': duplicate name (also in {a})" in err.value.message
    assert "field 'jump' names unknown target 'ghost'" in err.value.message


def test_unreadable_and_missing_files(tmp_path):
    with pytest.raises(InputError, match="inventory file not found"):
        load_file(tmp_path / "absent.toml")
    bad = tmp_path / "binary.toml"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match=str(bad)):
        load_file(bad)
    if os.geteuid() != 0:  # root reads anything; the permission case only exists for other users
        locked = write(tmp_path, GOOD, "locked.toml")
        locked.chmod(0)
        with pytest.raises(InputError, match="cannot read"):
            load_file(locked)


def test_no_inventory_files_is_an_error(tmp_path):
    with pytest.raises(InputError, match="no inventory"):
        load_inventory(None, project_dir=tmp_path)


def test_ssh_config_alias_is_honoured(tmp_path):
    key = tmp_path / "alias_key"
    key.write_text("not really a key")
    config = tmp_path / "ssh_config"
    config.write_text(f"Host kp-alias\n  HostName 192.0.2.99\n  Port 2022\n  User admin\n  IdentityFile {key}\n")
    path = write(tmp_path, '[[target]]\nname = "kp"\nhost = "kp-alias"\n')
    (target,) = load_file(path, config)
    assert (target.host, target.port, target.user, target.identity_file) == ("192.0.2.99", 2022, "admin", str(key))
    # explicit inventory fields win over ssh config
    path2 = write(tmp_path, '[[target]]\nname = "kp"\nhost = "kp-alias"\nport = 22\nuser = "root"\n', "b.toml")
    (target2,) = load_file(path2, config)
    assert (target2.host, target2.port, target2.user) == ("192.0.2.99", 22, "root")


def test_public_dict_carries_no_secret_values(tmp_path, monkeypatch):
    monkeypatch.setenv("KP_PASSWORD", "hunter2-secret")
    path = write(tmp_path, '[[target]]\nname = "kp"\nhost = "h"\npassword_env = "KP_PASSWORD"\n')
    (target,) = load_file(path, tmp_path / "none")
    assert "hunter2-secret" not in repr(target.public_dict())


def test_jump_cycles_are_input_errors(tmp_path):
    path = write(tmp_path, '[[target]]\nname = "a"\nhost = "h"\njump = "b"\n[[target]]\nname = "b"\nhost = "h"\njump = "a"\n')
    with pytest.raises(InputError, match="field 'jump' forms a cycle: a -> b -> a"):
        load_inventory([path], ssh_config_path=tmp_path / "none")
