"""Makefiles (GNU make and automake) for the build model: ifeq/ifneq/ifdef/ifndef/else/endif and
automake's `if COND`, with variables expanded per build.

The host probes a Makefile runs are answered per build: `$(shell uname -m)` is aarch64 or x86_64,
`$(shell getconf LONG_BIT)` is 64 on both (which is why `-Dx64_BIT` derived from it reaches
aarch64), `$(shell $(CC) -dumpmachine)` is the triplet. `filter`, `findstring`, `subst`,
`patsubst`, `strip`, `firstword`, `if` are understood; any other function, and any variable the
file does not set (the environment, the command line), is unknown.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.scan.build_model import BuildModel, Event, record, walk
from harness.scan.cexpr import Value
from harness.scan.platforms import BUILD_FACTS, BUILDS

_ASSIGN = re.compile(r"^(?:export\s+|override\s+)*(?P<name>[A-Za-z_][\w.-]*)\s*(?P<op>:::=|::=|:=|\?=|\+=|!=|=)\s*"
                     r"(?P<value>.*)$")
_CONDITIONAL = re.compile(r"^(?P<else>else\s+)?(?P<kind>ifeq|ifneq|ifdef|ifndef)\b\s*(?P<rest>.*)$")
_AUTOMAKE_IF = re.compile(r"^if\s+(?P<neg>!)?\s*(?P<name>\w+)\s*$")
_SHELL_PROBES = (
    (re.compile(r"^\s*uname\s+-[mpi]\s*$|^\s*arch\s*$|^\s*uname\s+--machine\s*$"), "cpu"),
    (re.compile(r"^\s*getconf\s+LONG_BIT\s*$"), "long_bit"),
    (re.compile(r"^\s*\S*(?:cc|gcc|clang|\$\((?:CC|CXX)\)|\$\{(?:CC|CXX)\})\s+-dumpmachine\s*$"), "dumpmachine"),
    (re.compile(r"^\s*uname(?:\s+-s)?\s*$"), "system"),
)


def is_makefile(path: Path) -> bool:
    name = path.name.lower()
    return name.startswith(("makefile", "gnumakefile")) or path.suffix.lower() in (".mk", ".mak", ".make")


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) with backslash continuations joined and comments dropped."""
    out: list[tuple[int, str]] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        start = i
        line = lines[i]
        while line.endswith("\\") and i + 1 < len(lines):
            i += 1
            line = line[:-1] + " " + lines[i]
        i += 1
        stripped = _strip_comment(line)
        if stripped.strip():
            out.append((start + 1, stripped))
    return out


def _strip_comment(line: str) -> str:
    pos = 0
    while True:
        pos = line.find("#", pos)
        if pos < 0:
            return line
        if pos > 0 and line[pos - 1] == "\\":
            pos += 1
            continue
        return line[:pos]


class MakeSyntax:
    """One Makefile's variables per build, in the order make reads them."""

    def __init__(self, automake: dict[str, dict[str, Value]] | None = None) -> None:
        self.vars: dict[str, dict[str, str | None]] = {}
        self.automake = automake or {}
        self.target_scoped = target_scoped

    def expand(self, text: str, build: str) -> str | None:
        return _Expander(self.vars, build).expand(text)

    def condition(self, text: str, build: str) -> Value:
        automake = _AUTOMAKE_IF.match("if " + text) if not _CONDITIONAL.match(text) else None
        if automake:
            known = self.automake.get(automake.group("name"), {}).get(build)
            if known is None:
                return None
            return int(not known) if automake.group("neg") else known
        match = _CONDITIONAL.match(text)
        if not match:
            return None
        kind, rest = match.group("kind"), match.group("rest").strip()
        if kind in ("ifdef", "ifndef"):
            value = self.vars.get(rest.strip(), {}).get(build) if rest.strip() in self.vars else None
            if rest.strip() not in self.vars:
                return None
            defined = None if value is None else int(value != "")
            return defined if kind == "ifdef" or defined is None else int(not defined)
        pair = _pair(rest)
        if pair is None:
            return None
        left, right = (self.expand(side, build) for side in pair)
        if left is None or right is None:
            return None
        equal = int(left.strip() == right.strip())
        return equal if kind == "ifeq" else int(not equal)

    def statement(self, text: str, reach: dict[str, Value]) -> None:
        match = _ASSIGN.match(text.strip())
        if not match or text.startswith("\t"):
            return
        name, op, value = match.group("name"), match.group("op"), match.group("value").strip()
        current = self.vars.setdefault(name, {b: None for b in BUILDS}) if name in self.vars else None
        for build in BUILDS:
            if reach[build] == 0:
                continue
            if op == "!=":
                new = _shell(value, build, self)
            elif op == "+=":
                old = self.vars.get(name, {}).get(build, "")
                added = self.expand(value, build)
                new = None if old is None or added is None else (old + " " + added).strip()
            elif op == "?=" and current is not None and current.get(build) is not None:
                continue
            else:
                new = self.expand(value, build) if op in (":=", "::=", ":::=") else _lazy(value, build, self)
            slot = self.vars.setdefault(name, {b: None for b in BUILDS})
            slot[build] = new if reach[build] == 1 else (new if new == slot.get(build) else None)


_TARGET_VARIABLE = re.compile(r"^[^\s:=#]+(?:\s+[^\s:=#]+)*\s*:(?!=)\s*(?:export\s+|override\s+)*[A-Za-z_][\w.-]*\s*"
                              r"(?::=|\+=|\?=|=)")


def target_scoped(text: str) -> bool:
    """A recipe line (tab), or a target-specific variable (`bench: CFLAGS += -mavx2`)."""
    return text.startswith("\t") or bool(_TARGET_VARIABLE.match(text))


def _lazy(value: str, build: str, syntax: MakeSyntax) -> str | None:
    """A recursively expanded `=` variable: expanded now, which is right for probes and constants."""
    return syntax.expand(value, build)


def _pair(rest: str) -> tuple[str, str] | None:
    """The two sides of `ifeq (a,b)`, `ifeq "a" "b"` or `ifeq 'a' 'b'`."""
    rest = rest.strip()
    if rest.startswith("("):
        depth = 0
        for pos, ch in enumerate(rest):
            depth += ch == "("
            depth -= ch == ")"
            if ch == "," and depth == 1:
                return rest[1:pos], rest[pos + 1:rest.rfind(")")]
        return None
    quoted = re.fullmatch(r"([\"'])(.*?)\1\s+([\"'])(.*?)\3", rest)
    return (quoted.group(2), quoted.group(4)) if quoted else None


def _shell(command: str, build: str, syntax: MakeSyntax | None) -> str | None:
    if syntax is not None:
        command = syntax.expand(command, build) or command
    for pattern, fact in _SHELL_PROBES:
        if pattern.match(command):
            return BUILD_FACTS[build][fact]
    return None


class _Expander:
    def __init__(self, variables: dict[str, dict[str, str | None]], build: str) -> None:
        self.vars = variables
        self.build = build
        self.depth = 0

    def expand(self, text: str) -> str | None:
        self.depth += 1
        if self.depth > 20:
            return None
        out: list[str] = []
        pos = 0
        while pos < len(text):
            ch = text[pos]
            if ch != "$" or pos + 1 >= len(text):
                out.append(ch)
                pos += 1
                continue
            nxt = text[pos + 1]
            if nxt == "$":
                out.append("$")
                pos += 2
                continue
            if nxt in "({":
                close = ")" if nxt == "(" else "}"
                end = _matching(text, pos + 1, nxt, close)
                if end < 0:
                    return None
                value = self.reference(text[pos + 2:end])
                pos = end + 1
            else:
                value = self.variable(nxt)
                pos += 2
            if value is None:
                return None
            out.append(value)
        self.depth -= 1
        return "".join(out)

    def variable(self, name: str) -> str | None:
        if name in ("CURDIR", "srcdir", "top_srcdir"):
            return None
        known = self.vars.get(name)
        if known is None:
            return None
        return known.get(self.build)

    def reference(self, inner: str) -> str | None:
        function, _, args = inner.partition(" ")
        if not args and ":" not in function and "," not in function:
            return self.variable(function)
        if function == "shell":
            return _shell(args, self.build, None) if "$" not in args else _shell_expanded(self, args)
        parts = _split_args(args)
        expanded = [self.expand(p) for p in parts]
        if function in ("filter", "filter-out") and len(expanded) == 2 and None not in expanded:
            patterns = [_percent(p) for p in expanded[0].split()]  # type: ignore[union-attr]
            words = expanded[1].split()  # type: ignore[union-attr]
            keep = [w for w in words if any(p.fullmatch(w) for p in patterns)]
            return " ".join(keep if function == "filter" else [w for w in words if w not in keep])
        if function == "findstring" and len(expanded) == 2 and None not in expanded:
            return expanded[0] if expanded[0] in expanded[1] else ""  # type: ignore[operator]
        if function == "strip" and None not in expanded:
            return " ".join(",".join(expanded).split())  # type: ignore[arg-type]
        if function == "subst" and len(expanded) == 3 and None not in expanded:
            return expanded[2].replace(expanded[0], expanded[1])  # type: ignore[union-attr,arg-type]
        if function == "firstword" and None not in expanded:
            words = ",".join(expanded).split()  # type: ignore[arg-type]
            return words[0] if words else ""
        if function == "if" and len(expanded) >= 2:
            if expanded[0] is None:
                return None
            return expanded[1] if expanded[0].strip() else (expanded[2] if len(expanded) > 2 else "")
        if function == "patsubst" and len(expanded) == 3 and None not in expanded:
            pattern = _percent(expanded[0])  # type: ignore[arg-type]
            return " ".join(pattern.sub(lambda m: expanded[1].replace("%", m.group(1) if m.groups() else ""), w)  # type: ignore[union-attr]
                            if pattern.fullmatch(w) else w for w in expanded[2].split())  # type: ignore[union-attr]
        return None


def _shell_expanded(expander: _Expander, args: str) -> str | None:
    command = expander.expand(args)
    return None if command is None else _shell(command, expander.build, None)


def _percent(pattern: str) -> re.Pattern[str]:
    if "%" in pattern:
        head, _, tail = pattern.partition("%")
        return re.compile(re.escape(head) + "(.*)" + re.escape(tail))
    return re.compile(re.escape(pattern))


def _matching(text: str, start: int, opener: str, closer: str) -> int:
    depth = 0
    for pos in range(start, len(text)):
        if text[pos] == opener:
            depth += 1
        elif text[pos] == closer:
            depth -= 1
            if depth == 0:
                return pos
    return -1


def _split_args(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch in "({":
            depth += 1
        elif ch in ")}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def events(text: str, automake: bool) -> list[Event]:
    out: list[Event] = []
    for line, content in logical_lines(text):
        stripped = content.strip()
        conditional = _CONDITIONAL.match(stripped)
        if conditional and not content.startswith("\t"):
            out.append(Event(line, "elif" if conditional.group("else") else "if", stripped))
            continue
        if automake and _AUTOMAKE_IF.match(stripped) and not content.startswith("\t"):
            out.append(Event(line, "if", stripped[3:].strip()))
            continue
        if stripped == "else" and not content.startswith("\t"):
            out.append(Event(line, "else", ""))
        elif stripped == "endif" or stripped.startswith("endif "):
            if not content.startswith("\t"):
                out.append(Event(line, "end", ""))
        else:
            out.append(Event(line, "stmt", content))
    return out


def read_makefile(model: BuildModel, path: Path, display: str, text: str,
                  automake: dict[str, dict[str, Value]] | None = None) -> None:
    syntax = MakeSyntax(automake)
    is_automake = path.name.lower() in ("makefile.am",) or path.suffix == ".am"
    statements = walk(events(text, is_automake), syntax)
    record(model, path, display, statements, syntax)
