"""No pattern in the harness ends in `$` (which also matches before a trailing newline): whole values are
matched with `re.fullmatch`, so `"redis\\n"` is never taken for the name `redis` (issue 12). Validation
of input (manifests, inventories, parity files, options) and the parsers of target output are checked.

A `$` is fine where it means "end of a line" in a multi-line text (re.M), or is a literal `\\$`.
"""

from __future__ import annotations

import ast
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[2] / "harness"
# Parsers that decide nothing about accepting input: the porting scan's readers match lines of scanned
# files (split on newlines first), and the whitelist list import splits an OS-version cell (the cell
# itself is validated in that module). A `$` there cannot let bad input through.
LINE_PARSERS = ("scan/", "whitelist/listfile.py")


def ends_in_dollar(pattern: str) -> bool:
    if not pattern.endswith("$"):
        return False
    backslashes = len(pattern[:-1]) - len(pattern[:-1].rstrip("\\"))
    return backslashes % 2 == 0  # `\$` is a literal dollar


def multiline(call: ast.Call) -> bool:
    flags = list(call.args[1:] if call.func.attr == "compile" else call.args[2:]) + [k.value for k in call.keywords]  # type: ignore[attr-defined]
    return any(isinstance(n, ast.Attribute) and n.attr in ("M", "MULTILINE") for f in flags for n in ast.walk(f))


def dollar_patterns(source: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "re"
                and node.func.attr in ("compile", "match", "search", "fullmatch") and node.args
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
                and ends_in_dollar(node.args[0].value) and not multiline(node)):
            found.append((node.lineno, node.args[0].value))
    return found


def test_the_checker_finds_what_it_should():
    assert dollar_patterns('import re\nNAME = re.compile(r"^[a-z]+$")\n') == [(2, "^[a-z]+$")]
    assert dollar_patterns('import re\nre.match("^x$", v)\n') == [(2, "^x$")]
    assert not dollar_patterns('import re\nre.compile(r"^\\s+$", re.M)\nre.compile(r"cost \\$")\nre.fullmatch("x", v)\n')


def test_no_pattern_in_the_harness_ends_in_dollar():
    offenders = []
    for path in sorted(HARNESS.rglob("*.py")):
        rel = path.relative_to(HARNESS).as_posix()
        if rel.startswith(LINE_PARSERS):
            continue
        offenders += [f"harness/{rel}:{line}: {pattern!r}" for line, pattern in dollar_patterns(path.read_text())]
    assert not offenders, "use re.fullmatch (or \\Z) instead of a trailing $:\n" + "\n".join(offenders)
