"""C functions, roughly: where each function body starts and ends, and whether it is `static`.

Asked of lines the rules flag: x86 inline assembly inside a `static inline` helper that only
x86-only code calls never reaches an aarch64 assembler (GCC does not emit unused static
functions), so it is no blocker. Found by brace matching on the comment- and literal-free view
(harness.scan.cpp), preprocessor lines skipped; a function is the `{` at depth 0 whose preceding
text ends in `name(...)`. Good enough for the question; not a C parser.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

# `name(params) [const | ATTRIBUTE_MACRO | __attribute__((...))]*` at the end of the text before a `{`.
# Each trailing word must end at a word boundary, so the words split one way only (no backtracking
# blow-up on a hostile line); only the last HEADER_WINDOW characters are searched.
_HEADER = re.compile(r"\b(?P<name>[A-Za-z_]\w*)\s*\((?P<params>[^()]*(?:\([^()]*\)[^()]*)*)\)"
                     r"(?:\s*(?:[A-Za-z_]\w*\b|__attribute__\s*\(\([^()]*(?:\([^()]*\)[^()]*)*\)\)))*\s*$")
HEADER_WINDOW = 600
_KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "do", "else", "case", "defined", "catch"}


@dataclass(frozen=True)
class Function:
    name: str
    start: int  # line of the opening brace (1-based)
    end: int  # line of the closing brace
    static: bool


def functions(bare: list[str]) -> list[Function]:
    """Top-level function bodies of a file (by its comment- and literal-free lines)."""
    found: list[Function] = []
    depth = 0
    pending: list[str] = []  # text at depth 0 since the last `;`, `}` or directive
    current: tuple[str, int, bool] | None = None
    for index, line in enumerate(bare):
        if line.lstrip().startswith("#"):
            continue
        for ch in line:
            if ch == "{":
                if depth == 0:
                    header = "".join(pending)[-HEADER_WINDOW:]
                    match = _HEADER.search(header)
                    if match and match.group("name") not in _KEYWORDS and "=" not in header[match.start():]:
                        current = (match.group("name"), index + 1, bool(re.search(r"\bstatic\b", header)))
                    else:
                        current = None
                    pending = []
                depth += 1
            elif ch == "}":
                depth = max(0, depth - 1)
                if depth == 0:
                    if current is not None:
                        found.append(Function(current[0], current[1], index + 1, current[2]))
                    current = None
                    pending = []
            elif depth == 0:
                if ch == ";":
                    pending = []
                else:
                    pending.append(ch)
        if depth == 0:
            pending.append(" ")
            if len(pending) > 4000:
                pending = pending[-2000:]
    return found


class FunctionIndex:
    """The functions of one file, looked up by line."""

    def __init__(self, bare: list[str]) -> None:
        self.functions = functions(bare)
        self._starts = [f.start for f in self.functions]

    def at(self, line: int) -> Function | None:
        position = bisect_right(self._starts, line) - 1
        if position < 0:
            return None
        function = self.functions[position]
        return function if function.start <= line <= function.end else None
