"""Hostile product manifests (issue 12): each is refused with file, field and what was expected (exit 2).

Paths never leave the product folder, strict names are matched whole (a trailing newline is not a
name), install_dir is never a system folder, and no string is unbounded. Property-based tests of
the same surface are in test_product_properties.py.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from harness.core.errors import EXIT_BAD_INPUT, InputError
from harness.product import load_product

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "products"))
from submissions import SAFE, submission  # noqa: E402
from submissions import refusal as refused  # noqa: E402

TEXT_CHARS = 256  # the documented bounds (harness.core.problems)
COMMAND_CHARS = 65536

# -- files the manifest refers to stay inside the product folder ----------------------------------------

@pytest.mark.parametrize("path", ["../../outside.deb", "../outside.deb", "pkgs/../../outside.deb"])
def test_artifact_path_climbing_out_is_refused(tmp_path, path):
    found = refused(submission(tmp_path, SAFE.replace('file = "pkgs/widget.deb"', f'file = "{path}"')))
    assert any(p.startswith("[[artifacts]][0].file: must be a file inside the product folder") for p in found), found


def test_absolute_artifact_path_is_refused(tmp_path):
    """Even an existing controller file (product inspect would list it, certify upload it)."""
    text = SAFE.replace('file = "pkgs/widget.deb"', 'file = "/etc/hostname"\ntype = "deb"')
    found = refused(submission(tmp_path, text))
    assert any(p.startswith("[[artifacts]][0].file: expected a path relative to the product folder, got the "
                            "absolute path '/etc/hostname'") for p in found), found


def test_symlinked_artifact_leading_outside_is_refused(tmp_path):
    found = refused(submission(tmp_path, SAFE.replace('file = "pkgs/widget.deb"', 'file = "pkgs/link.deb"')))
    assert any(p.startswith("[[artifacts]][0].file: must be a file inside the product folder")
               and f"leads to {tmp_path / 'outside.deb'}" in p for p in found), found


def test_symlinked_folder_leading_outside_is_refused(tmp_path):
    folder = submission(tmp_path, SAFE.replace('file = "pkgs/widget.deb"', 'file = "linked/w.deb"'))
    assert any(p.startswith("[[artifacts]][0].file: must be a file inside") for p in refused(folder))


def test_symlink_inside_the_folder_is_fine(tmp_path):
    folder = submission(tmp_path, SAFE.replace('file = "pkgs/widget.deb"', 'file = "current.deb"'))
    (folder / "current.deb").symlink_to("pkgs/widget.deb")
    [artifact] = load_product(folder).artifacts
    assert artifact.file == (folder / "pkgs" / "widget.deb").resolve()


# -- strict names are matched whole --------------------------------------------------------------------

NEWLINE_CASES = [
    ("[product].id", 'vendor = "ACME"', 'id = "evil\\n"\nvendor = "ACME"'),
    ("[[artifacts]][0].apt", 'file = "pkgs/widget.deb"', 'apt = "redis-server\\n"'),
    ("[[artifacts]][0].version", 'file = "pkgs/widget.deb"', 'apt = "redis-server"\nversion = "7.0\\n"'),
    ("[lifecycle].service", 'service = "widget"', 'service = "redis\\n"'),
    ("[lifecycle].keep_users[0]", 'keep_users = ["widget"]', 'keep_users = ["redis\\n"]'),
    ("[lifecycle].process", 'service = "widget"', 'service = "widget"\nprocess = "widget\\n"'),
    ("[lifecycle].pidfile", 'service = "widget"', 'service = "widget"\npidfile = "/run/w.pid\\n"'),
    ("[product].platforms[0].os", 'os = "debian"', 'os = "debian\\n"'),
    ("[product].platforms[0].os_version", 'os_version = "12"', 'os_version = "12\\n"'),
    ("[product].vendor", 'vendor = "ACME"', 'vendor = "ACME\\nInc"'),
]


@pytest.mark.parametrize("field, old, new", NEWLINE_CASES, ids=[c[0] for c in NEWLINE_CASES])
def test_trailing_newline_is_not_a_name(tmp_path, field, old, new):
    found = refused(submission(tmp_path, SAFE.replace(old, new, 1)))
    assert any(p.startswith(f"{field}: ") for p in found), found


def test_health_probe_and_smoke_names_are_whole_lines(tmp_path):
    text = SAFE + ('ports = [80]\nhealth = { type = "http", url = "http://127.0.0.1/\\n", host = "127.0.0.1\\n" }\n'
                   '\n[[smoke]]\nname = "two\\nlines"\ncommand = "true"\n')
    found = refused(submission(tmp_path, text))
    for field in ("[lifecycle.health].url", "[lifecycle.health].host", "[[smoke]][0].name"):
        assert any(p.startswith(f"{field}: ") for p in found), (field, found)


def test_commands_may_span_lines(tmp_path):
    text = SAFE + 'start = """\nmkdir -p /run/w\n\twidget --daemon\n"""\nstop = "pkill widget"\n'
    assert load_product(submission(tmp_path, text)).lifecycle.start == "mkdir -p /run/w\n\twidget --daemon\n"


# -- install_dir is the product's own folder ------------------------------------------------------------

REFUSED_DIRS = ["/", "/etc", "/usr", "/usr/local", "/usr/local/bin", "/usr/local/lib", "/usr/lib/acme", "/opt",
                "/srv", "/var/lib/acme", "/home/acme/app", "/root/app", "/tmp/acme", "/boot/acme",
                "/opt/acme/../../etc", "/opt//acme", "/opt/acme/", "/opt/./acme", "opt/acme", "//opt/acme"]
ALLOWED_DIRS = ["/opt/acme", "/opt/acme/widget", "/srv/acme", "/usr/local/acme", "/acme/app", "/data/vendor/app"]


@pytest.mark.parametrize("path", REFUSED_DIRS)
def test_install_dir_is_never_a_system_folder(tmp_path, path):
    found = refused(submission(tmp_path, SAFE + f"install_dir = {json.dumps(path)}\n"))
    assert any(p.startswith("[lifecycle].install_dir: expected the product's own folder") and "/opt" in p
               for p in found), found


@pytest.mark.parametrize("path", ALLOWED_DIRS)
def test_install_dir_below_an_install_root_is_fine(tmp_path, path):
    assert load_product(submission(tmp_path, SAFE + f"install_dir = {json.dumps(path)}\n")).lifecycle.install_dir == path


# -- no string is unbounded ----------------------------------------------------------------------------

BIG = "x" * (5 * 1024 * 1024)


@pytest.mark.parametrize("field", ["vendor", "name", "version", "contact"])
def test_a_5_mb_identity_field_is_refused_naming_the_limit(tmp_path, field):
    old = {"vendor": 'vendor = "ACME"', "name": 'name = "Widget"', "version": 'version = "1.0"',
           "contact": 'contact = "qa@acme.example"'}[field]
    found = refused(submission(tmp_path, SAFE.replace(old, f'{field} = "{BIG}"')))
    assert f"[product].{field}: expected a string of at most {TEXT_CHARS} characters, got 5,242,880" \
        in found, found


@pytest.mark.parametrize("where, text", [
    ("[lifecycle].start", f'start = "{"y" * (COMMAND_CHARS + 1)}"\nstop = "true"\n'),
    ("[lifecycle].install_dir", f'install_dir = "/opt/{"d" * 5000}"\n'),
    ("[[smoke]][0].expect_output", f'\n[[smoke]]\nname = "s"\ncommand = "true"\nexpect_output = "{"o" * (COMMAND_CHARS + 1)}"\n'),
    ("[[smoke]][0].command", f'\n[[smoke]]\nname = "s"\ncommand = "{"c" * (COMMAND_CHARS + 1)}"\n'),
])
def test_commands_paths_and_outputs_are_bounded(tmp_path, where, text):
    found = refused(submission(tmp_path, SAFE + text))
    assert any(p.startswith(f"{where}: ") and "at most" in p for p in found), found


def test_workload_text_is_bounded(tmp_path):
    text = SAFE + (f'\n[[workloads]]\nname = "w"\ncommand = "{"c" * (COMMAND_CHARS + 1)}"\n'
                   f'[[workloads.metrics]]\nname = "m"\nunit = "{"u" * 300}"\ndirection = "higher"\nelapsed = true\n')
    found = refused(submission(tmp_path, text))
    assert any(p.startswith("workloads[0] (w): field 'command' must be a string of at most") for p in found), found
    assert any(p.startswith("workloads[0] (w).metrics[0]: field 'unit' must be a string of at most 256") for p in found)


def test_nested_too_deeply_is_bad_input_not_a_crash(tmp_path):
    with pytest.raises(InputError, match="nested too deeply") as info:
        load_product(submission(tmp_path, SAFE + "\n[perf]\nx = " + "[" * 5000 + "]" * 5000 + "\n"))
    assert info.value.exit_code == EXIT_BAD_INPUT


def test_a_fifo_for_a_manifest_is_refused_without_hanging(tmp_path):
    folder = tmp_path / "fifo"
    folder.mkdir()
    os.mkfifo(folder / "product.toml")
    with pytest.raises(InputError, match="no product manifest here"):
        load_product(folder)


def test_symlink_loop_and_overlong_names_are_bad_input(tmp_path):
    folder = submission(tmp_path, SAFE.replace('file = "pkgs/widget.deb"', 'file = "pkgs/loop.deb"') +
                        f'\n[[smoke]]\nname = "s"\nscript = "{"s" * 300}.sh"\n')
    found = refused(folder)
    assert any(p.startswith("[[artifacts]][0].file: cannot use 'pkgs/loop.deb'") for p in found), found
    assert any(p.startswith("[[smoke]][0].script: cannot use") and "File name too long" in p for p in found), found
    with pytest.raises(InputError, match="cannot open a product manifest here"):
        load_product(tmp_path / ("x" * 300))
