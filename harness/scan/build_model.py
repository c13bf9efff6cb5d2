"""What the build files say about architectures, for the whole tree at once.

Every build syntax (harness.scan.build_cmake, build_make, build_meson, build_autoconf) turns a file
into a flat list of events (`if`/`elif`/`else`/`end`, and statements) plus an evaluator that knows
its conditions and variables. One walker evaluates each branch on both builds (aarch64, x86_64)
and hands every statement its reach. From the statements the model takes:

- which sources and folders a build selects only for x86_64, and the ARM branch that replaces
  them (`simd/x86_64/*.asm` under `CPU_TYPE STREQUAL "x86_64"` beside an `arm64` branch): a
  file only x86 builds is no blocker;
- which `-D` macros the build passes on which build (a `-Dx64_BIT` derived from `getconf
  LONG_BIT` is passed on aarch64 too: that is the `build-x86-define` blocker);
- which probe results are x86-only (`check_c_source_compiles` of `_mm_prefetch`), so the C
  model can decide `#if HAVE_MM_PREFETCH` and `#cmakedefine` placeholders.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from harness.scan.cexpr import Value
from harness.scan.cpp import v_and, v_not, v_or
from harness.scan.model import Finding
from harness.scan.platforms import BUILDS, SOURCE, TARGET, MacroValue
from harness.scan.rules import rule

ARM_WORD = re.compile(r"aarch64|arm64|\barmv?\d*\w*|neon", re.I)
X86_MACRO_PART = {"x86", "x64", "amd64", "i386", "i486", "i586", "i686", "ia32", "em64t"}
SOURCE_SUFFIXES = {".c", ".cc", ".cpp", ".cxx", ".c++", ".m", ".mm", ".s", ".S", ".sx", ".asm", ".nasm", ".h",
                   ".hpp", ".inc", ".cu", ".f", ".f90", ".F", ".F90", ".go", ".java", ".rs", ".o", ".lo",
                   ".obj"}
_DEFINE_FLAG = re.compile(r"(?<![\w-])-D(?P<name>[A-Za-z_]\w*)(?:=(?P<value>[^\s\"')]*))?")
MSVC_ONLY_HEADERS = {"intrin.h", "windows.h", "winsock2.h", "ws2tcpip.h", "io.h", "direct.h", "tchar.h"}
_TOKEN_SPLIT = re.compile(r"[\s\"'(),\[\]]+")


@dataclass
class Event:
    line: int
    kind: str  # if elif else end stmt
    text: str


class Syntax(Protocol):
    """One build file's conditions and variables, evaluated per build as the walk proceeds.

    A syntax may also have `target_scoped(text) -> bool`: the statement's -D flags apply to one
    target or command only.
    """

    def condition(self, text: str, build: str) -> Value: ...

    def statement(self, text: str, reach: dict[str, Value]) -> None: ...

    def expand(self, token: str, build: str) -> str | None: ...


@dataclass
class Statement:
    line: int
    text: str
    reach: dict[str, Value]
    arm_alternative: int = 0  # line of the ARM branch that replaces this x86-only statement, if any


@dataclass
class _Branch:
    line: int
    text: str
    own: dict[str, Value]
    taken: dict[str, Value]
    arm: bool
    statements: list[Statement] = field(default_factory=list)

    @property
    def x86_only(self) -> bool:
        return self.taken[TARGET] == 0 and self.taken[SOURCE] != 0


def walk(events: list[Event], syntax: Syntax) -> list[Statement]:
    """Every statement of the file with its reach per build (1, 0 or None)."""
    statements: list[Statement] = []
    stack: list[list[_Branch]] = []  # each frame: the chain's branches so far (the last is current)
    chains: list[list[_Branch]] = []
    frames_of: dict[int, tuple[tuple[int, int], ...]] = {}  # statement index -> (chain, branch) indexes
    for event in events:
        if event.kind == "if":
            own = {b: syntax.condition(event.text, b) for b in BUILDS}
            branch = _Branch(event.line, event.text, own, dict(own), _is_arm(event.text, own))
            chain = [branch]
            chains.append(chain)
            stack.append(chain)
        elif event.kind in ("elif", "else") and stack:
            chain = stack[-1]
            own = ({b: syntax.condition(event.text, b) for b in BUILDS} if event.kind == "elif"
                   else {b: 1 for b in BUILDS})
            earlier = {b: v_or(*(br.own[b] for br in chain)) for b in BUILDS}
            taken = {b: v_and(own[b], v_not(earlier[b])) for b in BUILDS}
            chain.append(_Branch(event.line, event.text, own, taken,
                                 event.kind == "elif" and _is_arm(event.text, taken)))
        elif event.kind == "end" and stack:
            stack.pop()
        elif event.kind == "stmt":
            reach = {b: v_and(*(chain[-1].taken[b] for chain in stack)) for b in BUILDS}
            syntax.statement(event.text, reach)
            statement = Statement(event.line, event.text, reach)
            if stack:
                stack[-1][-1].statements.append(statement)
            frames_of[len(statements)] = tuple((chains.index(c), len(c) - 1) for c in stack)
            statements.append(statement)
    for index, statement in enumerate(statements):
        for chain_index, branch_index in frames_of.get(index, ()):
            chain = chains[chain_index]
            if chain[branch_index].x86_only:
                arm = next((b for b in chain if b.arm), None)
                if arm is not None:
                    statement.arm_alternative = arm.line
                    break
    return statements


def _is_arm(text: str, taken: dict[str, Value]) -> bool:
    return bool(ARM_WORD.search(text)) and taken[TARGET] != 0 and taken[SOURCE] != 1


def match_arch(pattern: str, value: str, how: str = "equal") -> Value:
    """Does a build's arch string satisfy a literal from a build file (equal, regex, glob, substring)?"""
    try:
        if how == "regex":
            return int(re.search(pattern, value) is not None)
        if how == "glob":
            return int(fnmatch.fnmatchcase(value, pattern))
        if how == "contains":
            return int(pattern in value)
    except re.error:
        return None
    return int(pattern == value)


def substitute(pattern: re.Pattern[str], text: str, value: Callable[[str], str | None], rounds: int = 4) -> str | None:
    """`text` with every variable reference (`pattern`'s group `name`) replaced by its value; None
    as soon as one is unknown. Nested references (`${A_${B}}`) take more rounds."""
    for _ in range(rounds):
        unknown = False

        def one(match: re.Match[str]) -> str:
            nonlocal unknown
            found = value(match.group("name"))
            if found is None:
                unknown = True
                return ""
            return found

        replaced = pattern.sub(one, text)
        if unknown:
            return None
        if replaced == text:
            return replaced
        text = replaced
    return None if pattern.search(text) else text


def is_x86_macro_name(name: str) -> bool:
    parts = {p.lower() for p in re.split(r"_+", name) if p}
    return bool(parts & X86_MACRO_PART) or "x86_64" in name.lower()


@dataclass
class Selection:
    """Where the build selects a source file or folder."""

    reach: dict[str, Value]
    arm_alternative: str = ""  # "simd/CMakeLists.txt:214" when an ARM branch replaces it
    where: str = ""  # the build file line that selects it

    @property
    def x86_only(self) -> bool:
        return self.reach[TARGET] == 0 and self.reach[SOURCE] != 0


@dataclass
class FlagSite:
    origin: str  # build file (its display path)
    line: int
    name: str
    value: MacroValue
    reach: dict[str, Value]
    scoped: bool = False  # for one target or command only


@dataclass
class BuildModel:
    """Everything the build files of one tree say about architectures."""

    root: Path
    selections: dict[Path, Selection] = field(default_factory=dict)
    selected_by: dict[str, set[Path]] = field(default_factory=dict)  # build file -> files/folders it names
    flags: list[FlagSite] = field(default_factory=list)
    variables: dict[str, dict[str, MacroValue]] = field(default_factory=dict)  # probe results, AC_DEFINEs
    findings: list[Finding] = field(default_factory=list)

    def selection(self, path: Path) -> Selection | None:
        """The build's selection of a file: its own, or its nearest selected folder's."""
        probe = path
        while True:
            found = self.selections.get(probe)
            if found is not None:
                return found
            if probe == self.root or probe.parent == probe:
                return None
            probe = probe.parent

    def select(self, path: Path, statement: Statement, display: str) -> None:
        self.selected_by.setdefault(display, set()).add(path)
        current = self.selections.get(path)
        alternative = f"{display}:{statement.arm_alternative}" if statement.arm_alternative else ""
        if current is None:
            self.selections[path] = Selection(dict(statement.reach), alternative, f"{display}:{statement.line}")
            return
        current.reach = {b: v_or(current.reach[b], statement.reach[b]) for b in BUILDS}
        if not alternative:
            current.arm_alternative = current.arm_alternative if current.x86_only else ""
        elif not current.arm_alternative:
            current.arm_alternative = alternative

    def set_variable(self, name: str, reach: dict[str, Value], values: dict[str, MacroValue]) -> None:
        """A probe result or configure define, reached per build as its branch is."""
        current = self.variables.get(name)
        merged: dict[str, MacroValue] = {}
        for b in BUILDS:
            old = current[b] if current else False
            new = values[b]
            merged[b] = new if reach[b] == 1 else old if reach[b] == 0 else (
                new if new == old and type(new) is type(old) else None)
        self.variables[name] = merged


def record(model: BuildModel, build_file: Path, display: str, statements: list[Statement], syntax: Syntax,
           mentions: Callable[[Statement], Iterable[str]] | None = None) -> None:
    """Take selections and -D flags from a walked file's statements; report x86 macros aarch64 gets."""
    directory = build_file.parent
    for statement in statements:
        for token in (mentions(statement) if mentions else tokens_of(statement.text)):
            for build in BUILDS if "$" in token else (TARGET,):
                expanded = syntax.expand(token, build) if "$" in token else token
                if not expanded:
                    continue
                for path in resolve(model.root, directory, expanded):
                    if statement.reach[SOURCE] != 0 or statement.reach[TARGET] != 0:
                        model.select(path, _for_build(statement, build) if "$" in token else statement, display)
        scoped = getattr(syntax, "target_scoped", None)
        for_some = scoped is not None and scoped(statement.text)
        for match in _DEFINE_FLAG.finditer(statement.text):
            value = _flag_value(match.group("value"))
            # A flag for one target or one command (`foo: CFLAGS += -DX`, a recipe line,
            # target_compile_definitions) says nothing certain about the other files.
            reach = {b: v_and(statement.reach[b], None) for b in BUILDS} if for_some else dict(statement.reach)
            site = FlagSite(display, statement.line, match.group("name"), value, reach, for_some)
            model.flags.append(site)
            if is_x86_macro_name(site.name) and statement.reach[TARGET] == 1:
                r = rule("build-x86-define")
                model.findings.append(Finding(r.id, r.severity, display, statement.line,
                                              _snippet(statement.text),
                                              f"-D{site.name} is passed on aarch64 builds too. / aarch64 构建同样传入 "
                                              f"-D{site.name}。 " + r.suggestion))


def _for_build(statement: Statement, build: str) -> Statement:
    """A mention that names a path only on one build (`${CPU_TYPE}/jsimd.c`): reached there only."""
    reach = {b: (statement.reach[b] if b == build else 0) for b in BUILDS}
    return Statement(statement.line, statement.text, reach, statement.arm_alternative)


def _flag_value(text: str | None) -> MacroValue:
    if text is None or text == "":
        return 1
    try:
        return int(text, 0)
    except ValueError:
        return True


def _snippet(text: str) -> str:
    from harness.scan.source_c import snippet

    return snippet(text)


def tokens_of(text: str) -> list[str]:
    return [t for t in _TOKEN_SPLIT.split(text) if t and ("/" in t or "." in t) and not t.startswith("-")]


_PREFIXES = ("${CMAKE_CURRENT_SOURCE_DIR}/", "${CMAKE_CURRENT_LIST_DIR}/", "$(srcdir)/", "${srcdir}/",
             "@srcdir@/", "./", "$(CURDIR)/", "${CURDIR}/", "${CMAKE_CURRENT_BINARY_DIR}/")
_ROOT_PREFIXES = ("${CMAKE_SOURCE_DIR}/", "${PROJECT_SOURCE_DIR}/", "$(top_srcdir)/", "${top_srcdir}/",
                  "@top_srcdir@/", "${CMAKE_HOME_DIRECTORY}/")


def resolve(root: Path, directory: Path, token: str) -> list[Path]:
    """Existing files or folders a token names (relative to the build file, or the root; globs and
    object names `foo.o` -> `foo.c`/`foo.S` included)."""
    base = directory
    for prefix in _ROOT_PREFIXES:
        if token.startswith(prefix):
            token, base = token[len(prefix):], root
    for prefix in _PREFIXES:
        if token.startswith(prefix):
            token = token[len(prefix):]
    if not token or "$" in token or "@" in token or token.startswith("/") or ".." in Path(token).parts:
        return []
    suffix = Path(token).suffix
    if suffix not in SOURCE_SUFFIXES and "*" not in token and "/" not in token:
        return []
    try:
        if any(ch in token for ch in "*?["):
            return [p for p in base.glob(token) if _inside(root, p)][:500]
        path = base / token
        if suffix in (".o", ".lo", ".obj"):
            stem = path.with_suffix("")
            return [p for p in (stem.with_suffix(s) for s in (".c", ".cc", ".cpp", ".S", ".s", ".asm", ".nasm"))
                    if p.is_file()]
        if path.exists() and _inside(root, path):
            return [path]
    except (OSError, ValueError):
        return []
    return []


def _inside(root: Path, path: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def probe_result(source: str) -> dict[str, MacroValue] | None:
    """A build probe (a test program, a header check) whose text is x86-only or ARM-only: its result
    per build. None when the probe is about neither."""
    from harness.scan import patterns as P
    from harness.scan.intrinsics import is_x86_header, is_x86_intrinsic

    headers = re.findall(r"[\w./-]+\.h\b", source)
    if any(h.rsplit("/", 1)[-1].lower() in MSVC_ONLY_HEADERS for h in headers):
        return {TARGET: False, SOURCE: False}  # neither Linux build has MSVC's headers
    x86 = any(is_x86_header(h) for h in headers) or any(
        is_x86_intrinsic(m.group("name")) for m in P.INTRINSIC_CALL.finditer(source)) or bool(
        re.search(r"\b(?:cpuid|rdtsc|xgetbv)\b|%%?[re]?[abcd]x\b", source))
    arm = bool(re.search(r"arm_neon\.h|arm_sve\.h|arm_acle\.h", source)) or bool(P.NEON_CALL.search(source))
    if x86 and not arm:
        return {TARGET: False, SOURCE: None}
    if arm and not x86:
        return {TARGET: None, SOURCE: False}
    return None
