"""The one config-problem collector and the one TOML reader every input loader uses."""

from __future__ import annotations

import os

import pytest

from harness.core.errors import EXIT_BAD_INPUT, InputError
from harness.core.problems import Problems, shown
from harness.core.tomlfile import MAX_BYTES, read_toml


def test_problems_are_listed_together_each_naming_its_file():
    problems = Problems("inventory", "a.toml")
    problems.add("target 'x'", "field 'port' must be between 1 and 65535, got 0")
    problems.at("b.toml").add("", "unknown top-level key 'targets'")
    with pytest.raises(InputError) as info:
        problems.raise_if_any()
    assert info.value.exit_code == EXIT_BAD_INPUT
    assert info.value.message == ("2 problems in the inventory:\n"
                                  "  - a.toml: target 'x': field 'port' must be between 1 and 65535, got 0\n"
                                  "  - b.toml: unknown top-level key 'targets'")
    assert [p.source for p in info.value.problems] == ["a.toml", "b.toml"]


def test_no_problem_raises_nothing_and_one_is_singular():
    problems = Problems("policy", "p.toml")
    problems.raise_if_any()
    problems.add("[checks] required", "expected a list of strings")
    assert problems.error().message.startswith("1 problem in the policy:\n")


def test_messages_and_values_are_bounded():
    problems = Problems("product manifest", "m.toml")
    problems.add("[product].name" + "x" * 10_000, "got " + "y" * 5_000_000)
    [problem] = problems
    assert len(problem.where) < 200 and len(problem.message) < 1100 and "5,000,004 characters" in problem.message
    assert shown("z" * 5_000_000).endswith("… (5,000,000 characters)") and len(shown("z" * 5_000_000)) < 100
    assert shown("redis\n") == "'redis\\n'"  # control characters visible, never raw in a message


def test_another_loaders_error_is_absorbed_whole():
    inner = Problems("workloads", "m.toml")
    inner.add("workloads[0]", "field 'name' must be ...")
    outer = Problems("product manifest", "m.toml")
    outer.absorb(inner.error())
    outer.absorb(InputError("x.toml: no such file"))
    assert [str(p) for p in outer] == ["m.toml: workloads[0]: field 'name' must be ...", "x.toml: no such file"]


def test_toml_syntax_error_is_file_line_column(tmp_path):
    path = tmp_path / "f.toml"
    path.write_text('a = 1\nb = "open\n')
    with pytest.raises(InputError, match=rf"^{path}:2:10: not valid TOML: Illegal character"):
        read_toml(path, "inventory")
    path.write_text("a = 1\nb = [\n  1,")
    with pytest.raises(InputError, match=rf"^{path}:3:5: not valid TOML: "):  # at end of document: its position
        read_toml(path, "inventory")


def test_not_utf8_names_the_line_of_the_first_bad_byte(tmp_path):
    path = tmp_path / "f.toml"
    path.write_bytes(b'a = "ok"\nb = "caf\xe9"\n')
    with pytest.raises(InputError, match=rf"^{path}:2: not UTF-8 text .* a parity file must be UTF-8"):
        read_toml(path, "parity file")


def test_missing_folder_fifo_and_oversized_files(tmp_path):
    with pytest.raises(InputError, match=r"no such inventory file$"):
        read_toml(tmp_path / "absent.toml", "inventory")
    with pytest.raises(InputError, match=r"parity file not found \(set XCH_PARITY_FILE\)$"):
        read_toml(tmp_path / "absent.toml", "parity file", missing="parity file not found (set XCH_PARITY_FILE)")
    with pytest.raises(InputError, match="not a regular file"):
        read_toml(tmp_path, "inventory")
    os.mkfifo(tmp_path / "fifo.toml")
    with pytest.raises(InputError, match="not a regular file"):  # reading it would block forever
        read_toml(tmp_path / "fifo.toml", "inventory")
    big = tmp_path / "big.toml"
    with open(big, "wb") as fh:
        fh.truncate(MAX_BYTES + 1)
    with pytest.raises(InputError, match=f"{MAX_BYTES + 1:,} bytes; a product manifest may be at most {MAX_BYTES:,}"):
        read_toml(big, "product manifest")


def test_deep_nesting_is_bad_input_not_a_recursion_error(tmp_path):
    path = tmp_path / "deep.toml"
    path.write_text("x = " + "[" * 10_000 + "]" * 10_000 + "\n")
    with pytest.raises(InputError, match="nested too deeply"):
        read_toml(path, "inventory")
