"""CMake files for the build model: if()/elseif()/else()/endif(), set() variables, probes.

Conditions are evaluated per build with CMAKE_SYSTEM_PROCESSOR = aarch64 or x86_64 and the
variables set so far (`set(CPU_TYPE x86_64)` under an x86 test, `string(TOLOWER ...)`); a
`check_c_source_compiles()` whose test program is x86 code makes its result variable false on
aarch64. Anything else is unknown. Variables are shared by all CMake files of the tree (a
parent's variables reach its subdirectories), read in two passes so order does not matter much.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.scan.build_model import BuildModel, Event, match_arch, probe_result, record, substitute, walk
from harness.scan.cexpr import Value
from harness.scan.cpp import v_and, v_not, v_or
from harness.scan.platforms import BUILD_FACTS, BUILDS, MacroValue

_VAR = re.compile(r"\$\{(?P<name>\w+)\}")
_UNARY = {"DEFINED", "EXISTS", "COMMAND", "POLICY", "TARGET", "IS_DIRECTORY", "IS_ABSOLUTE", "TEST"}
_BINARY = {"STREQUAL", "MATCHES", "EQUAL", "LESS", "GREATER", "LESS_EQUAL", "GREATER_EQUAL", "STRLESS",
           "STRGREATER", "VERSION_LESS", "VERSION_GREATER", "VERSION_EQUAL", "VERSION_LESS_EQUAL",
           "VERSION_GREATER_EQUAL", "IN_LIST", "STRLESS_EQUAL", "STRGREATER_EQUAL"}
_FALSE = {"", "0", "OFF", "NO", "FALSE", "N", "IGNORE", "NOTFOUND"}
_PROBES = {"check_c_source_compiles", "check_cxx_source_compiles", "check_c_source_runs",
           "check_cxx_source_runs", "check_source_compiles", "check_include_file", "check_include_files",
           "check_include_file_cxx", "check_symbol_exists", "check_cxx_symbol_exists", "check_prototype_definition"}


def is_cmake_file(path: Path) -> bool:
    return path.name.lower() == "cmakelists.txt" or path.suffix.lower() == ".cmake"


def commands(text: str) -> list[tuple[int, str, str]]:
    """(line, lower-case command name, argument text) of every command; quoted arguments may span
    lines and hold `#`, comments (`# ...` outside quotes) are dropped."""
    found: list[tuple[int, str, str]] = []
    pos, n, line = 0, len(text), 1
    name_start = -1
    while pos < n:
        ch = text[pos]
        if ch == "\n":
            line += 1
            pos += 1
            continue
        if ch == "#":
            end = text.find("\n", pos)
            pos = n if end < 0 else end
            continue
        if ch.isalpha() or ch == "_":
            name_start = pos
            while pos < n and (text[pos].isalnum() or text[pos] == "_"):
                pos += 1
            name = text[name_start:pos]
            probe = pos
            while probe < n and text[probe] in " \t":
                probe += 1
            if probe < n and text[probe] == "(":
                start_line = line
                args, pos, line = _arguments(text, probe, line)
                found.append((start_line, name.lower(), args))
            continue
        pos += 1
    return found


def _arguments(text: str, pos: int, line: int) -> tuple[str, int, int]:
    """The text between a command's parentheses (from `pos`, the opening one), and where it ends."""
    depth, quoted, start, n = 0, False, pos + 1, len(text)
    while pos < n:
        ch = text[pos]
        if ch == "\n":
            line += 1
        elif quoted:
            if ch == "\\":
                pos += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "#":
            end = text.find("\n", pos)
            text = text[:pos] + " " * ((end if end >= 0 else n) - pos) + text[end if end >= 0 else n:]
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return " ".join(text[start:pos].split()), pos + 1, line
        pos += 1
    return " ".join(text[start:].split()), n, line


def _words(args: str) -> list[str]:
    return [w[1:-1] if len(w) >= 2 and w[0] == w[-1] == '"' else w
            for w in re.findall(r'"(?:[^"\\]|\\.)*"|[()]|[^\s()"]+', args)]


_TARGET_COMMANDS = ("target_compile_definitions", "target_compile_options", "set_source_files_properties",
                    "set_target_properties", "set_property", "try_compile", "try_run") + tuple(sorted(_PROBES))


class CMakeSyntax:
    """Variables and conditions of all CMake files of a tree, per build."""

    @staticmethod
    def target_scoped(text: str) -> bool:
        """-D flags of one target or one source file (or a probe's own compile), not of the tree."""
        return text.split(" ", 1)[0] in _TARGET_COMMANDS or "CMAKE_REQUIRED_DEFINITIONS" in text

    def __init__(self, model: BuildModel) -> None:
        self.model = model
        self.vars: dict[str, dict[str, str | None]] = {}
        for build in BUILDS:
            cpu = BUILD_FACTS[build]["cpu"]
            for name in ("CMAKE_SYSTEM_PROCESSOR", "CMAKE_HOST_SYSTEM_PROCESSOR"):
                self.vars.setdefault(name, {})[build] = cpu
            self.vars.setdefault("CMAKE_SYSTEM_NAME", {})[build] = "Linux"
            self.vars.setdefault("CMAKE_SIZEOF_VOID_P", {})[build] = "8"
            self.vars.setdefault("UNIX", {})[build] = "1"
            for name in ("WIN32", "MSVC", "APPLE", "CYGWIN", "MINGW", "MSVC_IDE", "XCODE", "BORLAND", "ANDROID",
                         "IOS", "EMSCRIPTEN", "MSYS", "CMAKE_OSX_ARCHITECTURES", "CMAKE_GENERATOR_PLATFORM",
                         "CMAKE_VS_PLATFORM_NAME", "CMAKE_CROSSCOMPILING"):
                self.vars.setdefault(name, {})[build] = ""
        self.fixed = set(self.vars)
        self._current = ""

    # -- values --------------------------------------------------------------------------------------
    def value(self, name: str, build: str) -> str | None:
        known = self.vars.get(name)
        if known is not None:
            return known.get(build)
        probe = self.model.variables.get(name)
        if probe is not None:
            value = probe.get(build)
            return None if value is None else "" if value is False else "1"
        return None

    def expand(self, token: str, build: str) -> str | None:
        return substitute(_VAR, token, lambda name: self.value(name, build))

    # -- conditions ----------------------------------------------------------------------------------
    def condition(self, text: str, build: str) -> Value:
        words = _words(text)
        try:
            value, pos = self._or(words, 0, build)
        except (IndexError, ValueError, RecursionError):
            return None
        return value if pos == len(words) else None

    def _or(self, words: list[str], pos: int, build: str) -> tuple[Value, int]:
        value, pos = self._and(words, pos, build)
        while pos < len(words) and words[pos].upper() == "OR":
            right, pos = self._and(words, pos + 1, build)
            value = v_or(value, right)
        return value, pos

    def _and(self, words: list[str], pos: int, build: str) -> tuple[Value, int]:
        value, pos = self._not(words, pos, build)
        while pos < len(words) and words[pos].upper() == "AND":
            right, pos = self._not(words, pos + 1, build)
            value = v_and(value, right)
        return value, pos

    def _not(self, words: list[str], pos: int, build: str) -> tuple[Value, int]:
        if words[pos].upper() == "NOT":
            value, pos = self._not(words, pos + 1, build)
            return v_not(value), pos
        return self._atom(words, pos, build)

    def _atom(self, words: list[str], pos: int, build: str) -> tuple[Value, int]:
        word = words[pos]
        if word == "(":
            value, pos = self._or(words, pos + 1, build)
            if pos < len(words) and words[pos] == ")":
                pos += 1
            return value, pos
        if word.upper() in _UNARY:
            name = words[pos + 1]
            if word.upper() == "DEFINED":
                known = self.value(name, build)
                return (None if known is None else 1), pos + 2
            return None, pos + 2
        if pos + 2 < len(words) + 1 and pos + 1 < len(words) and words[pos + 1].upper() in _BINARY:
            op, right = words[pos + 1].upper(), words[pos + 2]
            return self._compare(word, op, right, build), pos + 3
        return self._truthy(word, build), pos + 1

    def _operand(self, word: str, build: str, as_variable: bool) -> str | None:
        if "${" in word:
            return self.expand(word, build)
        if as_variable and re.fullmatch(r"\w+", word) and (word in self.vars or word in self.model.variables):
            return self.value(word, build)
        return word

    def _compare(self, left: str, op: str, right: str, build: str) -> Value:
        lhs = self._operand(left, build, True)
        rhs = self._operand(right, build, op != "MATCHES")
        if lhs is None or rhs is None:
            return None
        if op == "STREQUAL":
            return match_arch(rhs, lhs)
        if op == "MATCHES":
            return match_arch(rhs, lhs, "regex")
        if op == "EQUAL":
            try:
                return int(float(lhs) == float(rhs))
            except ValueError:
                return None
        if op == "IN_LIST":
            items = self.value(right, build)
            return None if items is None else int(lhs in items.split(";"))
        return None

    def _truthy(self, word: str, build: str) -> Value:
        if word.upper() in ("1", "ON", "YES", "TRUE", "Y"):
            return 1
        if word.upper() in _FALSE or word.upper().endswith("-NOTFOUND"):
            return 0
        value = self.expand(word, build) if "${" in word else self.value(word, build)
        if value is None:
            return None
        return 0 if value.upper() in _FALSE or value.upper().endswith("-NOTFOUND") else 1

    # -- statements ----------------------------------------------------------------------------------
    def statement(self, text: str, reach: dict[str, Value]) -> None:
        name, _, args = text.partition(" ")
        words = _words(args)
        if name == "set" and words and words[0] not in self.fixed:
            value_words = [w for w in words[1:] if w not in ("CACHE", "PARENT_SCOPE", "FORCE", "INTERNAL",
                                                             "STRING", "BOOL", "PATH", "FILEPATH")]
            if "CACHE" in words:
                value_words = words[1:2]
            self._assign(words[0], reach, lambda b: self._join(value_words, b))
        elif name == "string" and len(words) >= 3 and words[0].upper() in ("TOLOWER", "TOUPPER"):
            source, target = words[1], words[2]
            upper = words[0].upper() == "TOUPPER"
            self._assign(target, reach, lambda b: _case(self.expand(source, b), upper))
        elif name == "math" and len(words) >= 3 and words[0].upper() == "EXPR":
            target, expression = words[1], words[2]
            self._assign(target, reach, lambda b: _arithmetic(self.expand(expression, b)))
        elif name == "option" and words and words[0] not in self.fixed:
            default = words[2] if len(words) >= 3 else "OFF"
            self._assign(words[0], reach, lambda b: self.expand(default, b))
        elif name in _PROBES and len(words) >= 2:
            result = probe_result(args)
            variable = words[-1]
            if result is not None and re.fullmatch(r"\w+", variable):
                self.model.set_variable(variable, reach, result)

    def _join(self, words: list[str], build: str) -> str | None:
        values = [self.expand(w, build) for w in words]
        return None if any(v is None for v in values) else ";".join(v for v in values if v is not None)

    def _assign(self, name: str, reach: dict[str, Value], compute) -> None:  # type: ignore[no-untyped-def]
        computed = {b: compute(b) for b in BUILDS if reach[b] != 0}  # `set(X ${X} ...)` reads X first
        current = self.vars.setdefault(name, {b: None for b in BUILDS})
        for build, new in computed.items():
            current[build] = new if reach[build] == 1 else (new if new == current.get(build) else None)


def _arithmetic(expression: str | None) -> str | None:
    """`math(EXPR v "8 * 8")` for plain integer arithmetic; anything else is unknown."""
    if expression is None or not re.fullmatch(r"[\d\s+*/%()<>&|^~-]+", expression):
        return None
    try:
        return str(int(eval(expression, {"__builtins__": {}}, {})))  # noqa: S307 - digits and operators only
    except (SyntaxError, ZeroDivisionError, ValueError, TypeError, OverflowError):
        return None


def _case(value: str | None, upper: bool) -> str | None:
    if value is None:
        return None
    return value.upper() if upper else value.lower()


def events(text: str) -> list[Event]:
    out: list[Event] = []
    for line, name, args in commands(text):
        if name == "if":
            out.append(Event(line, "if", args))
        elif name == "elseif":
            out.append(Event(line, "elif", args))
        elif name == "else":
            out.append(Event(line, "else", args))
        elif name == "endif":
            out.append(Event(line, "end", args))
        else:
            out.append(Event(line, "stmt", f"{name} {args}"))
    return out


def read_cmake(model: BuildModel, files: list[tuple[Path, str, str]]) -> None:
    """All CMake files of the tree, as (path, display, text), parents first: variables from the
    first pass decide the second, whose statements the model records."""
    syntax = CMakeSyntax(model)
    parsed = [(path, display, events(text)) for path, display, text in files]
    for _ in range(2):
        walked = [(path, display, walk(evs, syntax)) for path, display, evs in parsed]
    for path, display, statements in walked:
        record(model, path, display, statements, syntax)


def x86_variable_values(model: BuildModel) -> dict[str, dict[str, MacroValue]]:
    return model.variables
