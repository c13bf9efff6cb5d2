"""configure.ac for the build model: `case $host_cpu in` arms, `if test ...` branches, shell
variables, AC_DEFINE, AM_CONDITIONAL (read again by Makefile.am's `if COND`).

`$host`, `$host_cpu`, `$target_cpu`, `$build_cpu` are the build's triplet or CPU; case patterns
are shell globs. AC_CHECK_HEADERS of an x86 header makes its HAVE_ variable false on aarch64.
The m4 forms (AS_IF, AS_CASE) are read as plain statements.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

from harness.scan.build_model import BuildModel, Event, probe_result, record, substitute, walk
from harness.scan.cexpr import Value
from harness.scan.cpp import v_and, v_not, v_or
from harness.scan.platforms import BUILD_FACTS, BUILDS, MacroValue

_CASE = re.compile(r"^\s*case\s+(?P<word>.+?)\s+in\b\s*(?P<rest>.*)$")
_ARM = re.compile(r"^\s*\(?\s*(?P<patterns>[^()]+?)\s*\)\s*(?P<body>.*)$")
_IF = re.compile(r"^\s*(?P<kw>if|elif)\s+(?P<cond>.+?)\s*(?:;\s*then\b.*|then\b.*)?$")
_ASSIGN = re.compile(r"^\s*(?P<name>[A-Za-z_]\w*)=(?P<value>\"[^\"]*\"|'[^']*'|\S*)\s*(?:;.*)?$")
_AC_DEFINE = re.compile(r"AC_DEFINE(?:_UNQUOTED)?\s*\(\s*\[?(?P<name>\w+)\]?\s*(?:,\s*\[?(?P<value>[^\],)]*)\]?)?")
_AM_CONDITIONAL = re.compile(r"AM_CONDITIONAL\s*\(\s*\[?(?P<name>\w+)\]?\s*,\s*\[?(?P<cond>.*?)\]?\s*\)\s*$")
_CHECK_HEADERS = re.compile(r"AC_CHECK_HEADERS?\s*\(\s*\[?(?P<headers>[^\],)]+)")
_TEST = re.compile(r"(?:test|\[)\s+(?P<left>\"[^\"]*\"|\S+)\s+(?P<op>!?=|==)\s+(?P<right>\"[^\"]*\"|[^\s\]]+)")
_VAR = re.compile(r"\$\{?(?P<name>\w+)\}?")
_HOST_FACTS = {"host": "triplet", "build": "triplet", "target": "triplet", "host_alias": "triplet",
               "host_cpu": "cpu", "build_cpu": "cpu", "target_cpu": "cpu", "host_os": "os", "build_os": "os"}


def is_autoconf_file(path: Path) -> bool:
    return path.name in ("configure.ac", "configure.in", "acinclude.m4")


class AutoconfSyntax:
    def __init__(self, model: BuildModel) -> None:
        self.model = model
        self.vars: dict[str, dict[str, str | None]] = {}
        self.automake: dict[str, dict[str, Value]] = {}

    def value(self, name: str, build: str) -> str | None:
        fact = _HOST_FACTS.get(name)
        if fact == "os":
            return "linux-gnu"
        if fact:
            return BUILD_FACTS[build][fact]
        return self.vars.get(name, {}).get(build)

    def expand(self, text: str, build: str) -> str | None:
        return substitute(_VAR, text, lambda name: self.value(name, build), rounds=1)

    def condition(self, text: str, build: str) -> Value:
        if text.startswith("case\0"):
            _, word, patterns = text.split("\0", 2)
            subject = self.expand(word.strip("\"'"), build)
            if subject is None:
                return None
            return int(any(fnmatch.fnmatchcase(subject, p.strip().strip("\"'")) for p in patterns.split("|")))
        return self._test(text, build)

    def _test(self, text: str, build: str) -> Value:
        comparisons = list(_TEST.finditer(text))
        if not comparisons:
            return None
        values: list[Value] = []
        for match in comparisons:
            left = self.expand(match.group("left").strip('"'), build)
            right = self.expand(match.group("right").strip('"'), build)
            if left is None or right is None:
                values.append(None)
                continue
            equal = int(left == right)
            values.append(equal if match.group("op") in ("=", "==") else int(not equal))
        combined = v_or(*values) if ("||" in text or " -o " in text) else v_and(*values)
        return v_not(combined) if text.lstrip().startswith("!") else combined

    def statement(self, text: str, reach: dict[str, Value]) -> None:
        assign = _ASSIGN.match(text)
        if assign and not text.lstrip().startswith(("AC_", "AM_", "AS_", "m4_")):
            raw = assign.group("value").strip("\"'")
            slot = self.vars.setdefault(assign.group("name"), {b: None for b in BUILDS})
            for build in BUILDS:
                new = self.expand(raw, build)
                if reach[build] == 1:
                    slot[build] = new
                elif reach[build] is None:
                    slot[build] = new if new == slot.get(build) else None
        for define in _AC_DEFINE.finditer(text):
            value = _literal(define.group("value"))
            self.model.set_variable(define.group("name"), reach, {b: value for b in BUILDS})
        conditional = _AM_CONDITIONAL.search(text)
        if conditional:
            self.automake[conditional.group("name")] = {
                b: (v_and(reach[b], self._test(conditional.group("cond"), b)) if reach[b] != 0 else 0)
                for b in BUILDS}
        for check in _CHECK_HEADERS.finditer(text):
            for header in check.group("headers").split():
                result = probe_result(f"#include <{header}>")
                if result is not None:
                    name = "HAVE_" + re.sub(r"\W", "_", header).upper()
                    self.model.set_variable(name, reach, result)


def _literal(text: str | None) -> MacroValue:
    if text is None or not text.strip():
        return 1
    try:
        return int(text.strip(), 0)
    except ValueError:
        return True


def events(text: str) -> list[Event]:
    """Shell structure of configure.ac: `case` arms become if/elif/else, `if`/`elif`/`else`/`fi` stay."""
    out: list[Event] = []
    cases: list[dict[str, object]] = []  # word, arms seen, in_arm
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.split(" dnl ", 1)[0]
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "dnl")):
            continue
        case = _CASE.match(line)
        if case:
            cases.append({"word": case.group("word"), "arms": 0})
            continue
        if cases and re.match(r"^\s*esac\b", line):
            if cases[-1]["arms"]:
                out.append(Event(number, "end", ""))
            cases.pop()
            continue
        if cases:
            frame = cases[-1]
            arm = _ARM.match(line) if not stripped.startswith(("if ", "elif ", "fi", "else")) else None
            if arm and _looks_like_patterns(arm.group("patterns")):
                patterns = arm.group("patterns")
                kind = "if" if not frame["arms"] else ("else" if patterns.strip() == "*" else "elif")
                out.append(Event(number, kind, f"case\0{frame['word']}\0{patterns}" if kind != "else" else ""))
                frame["arms"] = int(frame["arms"]) + 1  # type: ignore[call-overload]
                body = arm.group("body").rstrip(";").strip()
                if body:
                    out.append(Event(number, "stmt", body))
                continue
        condition = _IF.match(line)
        if condition and not stripped.startswith(("AC_", "AS_")):
            out.append(Event(number, condition.group("kw"), condition.group("cond")))
            continue
        if stripped in ("else", "else;"):
            out.append(Event(number, "else", ""))
        elif stripped in ("fi", "fi;") or stripped.startswith("fi "):
            out.append(Event(number, "end", ""))
        elif stripped.rstrip(";").strip():
            out.append(Event(number, "stmt", stripped.rstrip(";")))
    return out


def _looks_like_patterns(text: str) -> bool:
    return bool(re.fullmatch(r"[\w*?\[\]!.|\"' -]+", text)) and "=" not in text


def read_autoconf(model: BuildModel, path: Path, display: str, text: str) -> dict[str, dict[str, Value]]:
    """Read configure.ac into the model; returns its AM_CONDITIONALs for the Makefile.am files."""
    syntax = AutoconfSyntax(model)
    statements = walk(events(text), syntax)
    record(model, path, display, statements, syntax)
    return syntax.automake
