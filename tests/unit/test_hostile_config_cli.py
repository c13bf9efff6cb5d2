"""Hostile manifests and inventories (issue 12) through the real CLI: exit 2 with file, field and the
expected form; never exit 3 ("internal error"), never accepted.

`xch product validate` and `xch targets list` run through the CLI's own entry point (harness.cli.main:
the code that maps exceptions to exit codes), in process so the table stays fast. The cases are the
table of the issue's note: each row is one hostile input and the phrase its error must hold.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "products"))
import submissions  # noqa: E402

# name -> (text replacements or an appended text, phrase the error must contain)
MANIFESTS = {
    "artifact ../../x": ({'file = "pkgs/widget.deb"': 'file = "../../outside.deb"'},
                         "[[artifacts]][0].file: must be a file inside the product folder"),
    "artifact absolute path": ({'file = "pkgs/widget.deb"': 'file = "/etc/passwd"\ntype = "deb"'},
                               "[[artifacts]][0].file: expected a path relative to the product folder"),
    "artifact symlink outside": ({'file = "pkgs/widget.deb"': 'file = "pkgs/link.deb"'},
                                 "[[artifacts]][0].file: must be a file inside the product folder"),
    "artifact symlink loop": ({'file = "pkgs/widget.deb"': 'file = "pkgs/loop.deb"'}, "[[artifacts]][0].file: cannot use"),
    "smoke script ../": ("\n[[smoke]]\nname = \"s\"\nscript = \"../outside.deb\"\n", "[[smoke]][0].script: must be a file inside"),
    "parity /etc/hostname": ('\n[migration]\nparity = "/etc/hostname"\n', "[migration].parity: expected a parity file path"),
    'id = "evil\\n"': ({'vendor = "ACME"': 'id = "evil\\n"\nvendor = "ACME"'}, "[product].id: control characters"),
    'apt = "redis-server\\n"': ({'file = "pkgs/widget.deb"': 'apt = "redis-server\\n"'}, "[[artifacts]][0].apt: control"),
    'service = "redis\\n"': ({'service = "widget"': 'service = "redis\\n"'}, "[lifecycle].service: control characters"),
    'keep_users = ["redis\\n"]': ({'keep_users = ["widget"]': 'keep_users = ["redis\\n"]'},
                                  "[lifecycle].keep_users[0]: expected a user name"),
    'install_dir = "/"': ('install_dir = "/"\n', "[lifecycle].install_dir: expected the product's own folder"),
    'install_dir = "/etc"': ('install_dir = "/etc"\n', "[lifecycle].install_dir: expected the product's own folder"),
    'install_dir = "/usr/local/bin"': ('install_dir = "/usr/local/bin"\n', "[lifecycle].install_dir: expected"),
    'install_dir = "/opt/a/../../etc"': ('install_dir = "/opt/a/../../etc"\n', "[lifecycle].install_dir: expected"),
    "5 MB name": ({'name = "Widget"': 'name = "' + "n" * 5_242_880 + '"'},
                  "[product].name: expected a string of at most 256 characters, got 5,242,880"),
    "70 kB start command": ('start = "' + "s" * 70_000 + '"\nstop = "true"\n', "[lifecycle].start: expected a shell"),
    "start_timeout = nan": ("start_timeout = nan\n", "[lifecycle].start_timeout: expected a number from"),
    "health timeout = inf": ('health = { type = "tcp", port = 80, timeout = inf }\nports = [80]\n',
                             "[lifecycle.health].timeout: expected a number from"),
    "workload timeout = inf": ('\n[[workloads]]\nname = "w"\ncommand = "true"\ntimeout = inf\n[[workloads.metrics]]\n'
                               'name = "m"\nunit = "s"\ndirection = "lower"\nelapsed = true\n',
                               "workloads[0] (w): field 'timeout' must be a positive number"),
    "arrays nested 5000 deep": ("x = " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    "TOML syntax error": ({'name = "Widget"': 'name = Widget'}, "product.toml:3:8: not valid TOML"),
    "not UTF-8": ({'vendor = "ACME"': 'vendor = "AC\udcffME"'}, "product.toml:2: not UTF-8 text"),
}

INVENTORIES = {
    "connect_timeout = nan": ('[[target]]\nname = "a"\nhost = "h"\nconnect_timeout = nan\n',
                              "target 'a': field 'connect_timeout' must be a positive number of seconds"),
    "command_timeout = inf": ('[[target]]\nname = "a"\nhost = "h"\ncommand_timeout = inf\n',
                              "target 'a': field 'command_timeout' must be a positive number of seconds"),
    "command_timeout = 1e308": ('[[target]]\nname = "a"\nhost = "h"\ncommand_timeout = 1e308\n',
                                "field 'command_timeout' must be a positive number of seconds up to 604800"),
    'name = "."': ('[[target]]\nname = "."\nhost = "h"\n', "field 'name' '.' must be one line"),
    'name = ".."': ('[[target]]\nname = ".."\nhost = "h"\n', "field 'name' '..' must be one line"),
    "name with newline": ('[[target]]\nname = "a\\nb"\nhost = "h"\n', "field 'name' 'a\\nb' must be one line"),
    "name with NUL": ('[[target]]\nname = "a\\u0000b"\nhost = "h"\n', "field 'name' 'a\\x00b' must be one line"),
    "host with newline": ('[[target]]\nname = "a"\nhost = "h\\n"\n', "target 'a': field 'host' must be one word"),
    "host with NUL": ('[[target]]\nname = "a"\nhost = "h\\u0000"\n', "target 'a': field 'host' must be one word"),
    "jump cycle + duplicate": ('[[target]]\nname = "a"\nhost = "h"\njump = "b"\n[[target]]\nname = "b"\nhost = "h"\n'
                               'jump = "a"\n[[target]]\nname = "a"\nhost = "h"\n',
                               "target 'a': field 'jump' forms a cycle: a -> b -> a"),
    "arrays nested 5000 deep": ("x = " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
}


@dataclass
class Done:
    returncode: int
    stderr: str


@pytest.fixture
def xch(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.ssh/config of the machine running the tests

    def run(*args: str) -> Done:
        rc = main(list(args))
        return Done(rc, capsys.readouterr().err)
    return run


def submission(tmp_path: Path, change) -> Path:
    text = submissions.SAFE
    if isinstance(change, dict):
        for old, new in change.items():
            assert old in text
            text = text.replace(old, new)
    else:
        text += change
    return submissions.submission(tmp_path, text)


def assert_clear_refusal(done: Done, phrase: str, file: Path) -> None:
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert str(file) in done.stderr and phrase in done.stderr, done.stderr[-2000:]
    assert len(done.stderr) < 5000, "the error echoes a huge value back"


@pytest.mark.parametrize("case", list(MANIFESTS))
def test_hostile_manifest_is_refused_by_product_validate(tmp_path, xch, case):
    change, phrase = MANIFESTS[case]
    folder = submission(tmp_path, change)
    assert_clear_refusal(xch("product", "validate", str(folder)), phrase, folder)


@pytest.mark.parametrize("case", list(INVENTORIES))
def test_hostile_inventory_is_refused_by_targets_list(tmp_path, xch, case):
    text, phrase = INVENTORIES[case]
    path = tmp_path / "inv.toml"
    path.write_text(text)
    assert_clear_refusal(xch("targets", "list", "--inventory", str(path)), phrase, path)
