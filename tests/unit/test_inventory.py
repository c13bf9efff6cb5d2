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
        ('[[target]]\nname = "a,b"\nhost = "h"\n', "without ',', '='"),
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


# -- hostile inventories (issue 12): refused with file, target and field, never accepted ---------------

@pytest.mark.parametrize("field", ["connect_timeout", "command_timeout"])
@pytest.mark.parametrize("value", ["nan", "inf", "+inf", "-inf", "1e308", "0", "-1", "0.0"])
def test_timeouts_are_positive_finite_and_bounded(tmp_path, field, value):
    path = write(tmp_path, f'[[target]]\nname = "a"\nhost = "h"\n{field} = {value}\n')
    with pytest.raises(InputError) as err:
        load_file(path, tmp_path / "none")
    assert f"{path}: target 'a': field '{field}' must be a positive number of seconds up to" in err.value.message


def test_timeouts_in_defaults_are_checked_too(tmp_path):
    path = write(tmp_path, '[defaults]\ncommand_timeout = nan\n[[target]]\nname = "a"\nhost = "h"\n')
    with pytest.raises(InputError, match="field 'command_timeout' must be a positive number of seconds"):
        load_file(path, tmp_path / "none")


@pytest.mark.parametrize("name", [".", "..", "a\\nb", "a\\n", "a\\u0000b", "a\\tb", "a\\\\b", "x" * 129, "\\u007f"])
def test_names_that_cannot_be_a_log_folder_are_refused(tmp_path, name):
    path = write(tmp_path, f'[[target]]\nname = "{name}"\nhost = "h"\n')
    with pytest.raises(InputError) as err:
        load_file(path, tmp_path / "none")
    assert "field 'name'" in err.value.message and "names the target's log folder" in err.value.message
    assert str(path) in err.value.message


@pytest.mark.parametrize("field, value", [("host", "h\\n"), ("host", "h\\u0000x"), ("host", "-oProxyCommand=id"),
                                          ("host", "two words"), ("user", "root\\n")])
def test_hosts_and_users_with_control_characters_are_refused(tmp_path, field, value):
    base = {"name": "a", "host": "h"}
    base[field] = value
    path = write(tmp_path, "[[target]]\n" + "".join(f'{k} = "{v}"\n' for k, v in base.items()))
    with pytest.raises(InputError) as err:
        load_file(path, tmp_path / "none")
    assert f"target 'a': field '{field}' must be one word" in err.value.message


def test_identity_file_with_nul_is_bad_input_not_a_crash(tmp_path):
    path = write(tmp_path, '[[target]]\nname = "a"\nhost = "h"\nidentity_file = "k\\u0000ey"\n')
    with pytest.raises(InputError, match="field 'identity_file' must be a path"):
        load_file(path, tmp_path / "none")


def test_jump_cycles_are_reported_with_the_duplicate_in_one_pass(tmp_path):
    """A file with a duplicate name still has its other targets checked: every problem in one pass."""
    path = write(tmp_path, '[[target]]\nname = "a"\nhost = "h"\njump = "b"\n'
                           '[[target]]\nname = "b"\nhost = "h"\njump = "a"\n'
                           '[[target]]\nname = "a"\nhost = "h2"\n'
                           '[[target]]\nname = "c"\nhost = "h"\njump = "ghost"\n')
    with pytest.raises(InputError) as err:
        load_inventory([path], ssh_config_path=tmp_path / "none")
    text = err.value.message
    for expected in (f"{path}: target 'a': duplicate name (first defined as target #1)",
                     f"{path}: target 'a': field 'jump' forms a cycle: a -> b -> a",
                     f"{path}: target 'b': field 'jump' forms a cycle: b -> a -> b",
                     f"{path}: target 'c': field 'jump' names unknown target 'ghost'"):
        assert expected in text, text
    assert text.startswith("4 problems in the inventory:")


def test_problems_of_several_files_come_in_one_error(tmp_path):
    a = write(tmp_path, '[[target]]\nname = "a"\nhost = "h"\nport = 0\n', "a.toml")
    b = write(tmp_path, '[[target]\n', "b.toml")
    c = write(tmp_path, '[[target]]\nname = "c"\nhost = "h"\njump = "a"\n', "c.toml")
    with pytest.raises(InputError) as err:
        load_inventory([a, b, c], ssh_config_path=tmp_path / "none")
    text = err.value.message
    assert f"{a}: target 'a': field 'port' must be between 1 and 65535" in text
    assert f"{b}:1:9: not valid TOML" in text
    assert f"{c}: target 'c': field 'jump' names unknown target 'a'" in text  # 'a' was refused


def test_toml_syntax_error_gives_file_line_and_column(tmp_path):
    path = write(tmp_path, '[[target]]\nname = "a"\nhost = h\n')
    with pytest.raises(InputError, match=rf"  - {path}:3:8: not valid TOML: Invalid value"):
        load_file(path, tmp_path / "none")


def test_nesting_too_deep_is_bad_input_not_a_crash(tmp_path):
    path = write(tmp_path, "[[target]]\nname = \"a\"\nhost = \"h\"\nlabels = " + "[" * 3000 + "]" * 3000 + "\n")
    with pytest.raises(InputError, match="nested too deeply"):
        load_file(path, tmp_path / "none")


def test_unusable_ssh_config_is_bad_input_naming_it(tmp_path):
    config = tmp_path / "ssh_config"
    config.write_text("Host kp\n  Port twenty-two\n")
    path = write(tmp_path, '[[target]]\nname = "kp"\nhost = "kp"\n')
    with pytest.raises(InputError, match=rf"{config}: Port 'twenty-two' for host 'kp' is not a port number"):
        load_file(path, config)
    config.write_text("Host kp\nProxyCommand\n")
    with pytest.raises(InputError, match=rf"{config}: cannot read the ssh config"):
        load_file(path, config)


def test_identity_file_in_a_symlink_loop_is_bad_input(tmp_path):
    (tmp_path / "loop").symlink_to("loop")
    path = write(tmp_path, '[[target]]\nname = "a"\nhost = "h"\nidentity_file = "loop/key"\n')
    with pytest.raises(InputError, match="target 'a': field 'identity_file': cannot resolve 'loop/key'"):
        load_file(path, tmp_path / "none")


def test_a_jump_follows_the_rules_of_names(tmp_path):
    path = write(tmp_path, '[[target]]\nname = "kp 01"\nhost = "h"\n[[target]]\nname = "b"\nhost = "h"\njump = "kp 01"\n'
                           '[[target]]\nname = "c"\nhost = "h"\njump = "a\\u0000"\n')
    with pytest.raises(InputError) as err:
        load_inventory([path], ssh_config_path=tmp_path / "none")
    assert err.value.message.startswith("1 problem in the inventory:")
    assert "target 'c': field 'jump' 'a\\x00' must be one line" in err.value.message
