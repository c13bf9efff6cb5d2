"""A small C preprocessor model: comments stripped, #if chains, and where each line is compiled.

Not a preprocessor: no macro is expanded. Every `#if` condition is evaluated on the two builds
a port compares (harness.scan.platforms: aarch64 and x86_64), in three-valued logic, with the
compiler's predefined macros and what the project itself defines (harness.scan.macros). A line
is then compiled on a build (1), not compiled (0), or it depends on something unknown (None):

- compiled by neither build (MSVC-only, MIPS, i386, x32 code): not a porting question;
- compiled by x86_64 only: x86 code an ARM branch covers, or a generic fallback replaces;
- compiled by aarch64: x86 code there breaks the aarch64 build.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.scan import cexpr
from harness.scan.cexpr import Node, Value
from harness.scan.platforms import ARM_HEADERS, ARM_SPECIFIC, BUILDS, PREDEFINED, SOURCE, TARGET, MacroValue
from harness.scan.platforms import has_include as _has_include

DIRECTIVE = re.compile(r"^\s*#\s*(?P<name>ifdef|ifndef|if|elifdef|elifndef|elif|else|endif|error|define|undef|"
                       r"include|cmakedefine01|cmakedefine|mesondefine)\b(?P<rest>.*)$")
_DEFINE = re.compile(r"^\s*(?P<name>[A-Za-z_]\w*)(?P<params>\([^)]*\))?\s*(?P<body>.*)$")
Reach = dict  # build -> Value (1, 0 or None)
ALWAYS: dict[str, Value] = {build: 1 for build in BUILDS}


_LEXER = re.compile(r"//[^\n]*|/\*.*?(?:\*/|\Z)|\"(?:[^\"\\\n]|\\.)*\"?|(?<![A-Za-z0-9])'(?:[^'\\\n]|\\.)*'?", re.S)


def strip_comments(text: str) -> tuple[list[str], list[str]]:
    """Two views of the file, line for line: comments removed; and comments plus literals removed.

    Inline assembly lives in string literals, so its rule reads the first view; every other rule
    reads the second, so a `_mm_add_ps` in a log message is not code. A block comment becomes one
    space (its line breaks kept); an unterminated literal ends at its line.
    """
    code: list[str] = []
    bare: list[str] = []
    pos = 0
    for match in _LEXER.finditer(text):
        if match.start() > pos:
            chunk = text[pos:match.start()]
            code.append(chunk)
            bare.append(chunk)
        token = match.group(0)
        if token.startswith("/*"):
            filler = " " + "\n" * token.count("\n")
            code.append(filler)
            bare.append(filler)
        elif not token.startswith("//"):
            quote = token[0]
            closed = len(token) > 1 and token.endswith(quote) and not _escaped_end(token)
            inner = token[1:-1] if closed else token[1:]
            code.append(token)
            bare.append(quote + "\n" * inner.count("\n") + (quote if closed else ""))
        pos = match.end()
    code.append(text[pos:])
    bare.append(text[pos:])
    return "".join(code).split("\n"), "".join(bare).split("\n")


def _escaped_end(token: str) -> bool:
    """`"abc\\"` is closed, `"abc\"` (backslash-quote at the end) is not."""
    backslashes = len(token) - 1 - len(token[:-1].rstrip("\\"))
    return backslashes % 2 == 1


def logical_directive(lines: list[str], index: int) -> tuple[str, int]:
    """A directive with its backslash continuations joined; returns (text, lines consumed)."""
    text = lines[index]
    used = 1
    while text.rstrip().endswith("\\") and index + used < len(lines):
        text = text.rstrip()[:-1] + " " + lines[index + used]
        used += 1
    return text, used


# -- three-valued helpers -----------------------------------------------------------------------------

def v_and(*values: Value) -> Value:
    if any(v == 0 for v in values):
        return 0
    return None if any(v is None for v in values) else 1


def v_not(value: Value) -> Value:
    return None if value is None else int(not value)


def v_or(*values: Value) -> Value:
    if any(v is not None and v for v in values):
        return 1
    return None if any(v is None for v in values) else 0


# -- directives ------------------------------------------------------------------------------------------

@dataclass
class Directive:
    index: int  # 0-based line
    used: int  # physical lines the directive spans
    kind: str  # if elif else endif error define undef include
    text: str
    condition: str = ""
    node: Node | None = None
    name: str = ""  # define / undef: the macro
    value: Node | bool | None = None  # define: its body as an expression, True if not one
    template: bool = False  # `#cmakedefine X`, or `#undef X` in a config.h.in: the build decides


def parse_directives(lines: list[str], template: bool = False) -> list[Directive]:
    """The file's directives with conditions parsed once (they are evaluated per build, per pass).

    In a configuration template (`config.h.in`, template=True) an `#undef X` is where configure
    writes `#define X`; `#cmakedefine`/`#mesondefine` mean the same anywhere.
    """
    found: list[Directive] = []
    i = 0
    while i < len(lines):
        if "#" not in lines[i]:
            i += 1
            continue
        match = DIRECTIVE.match(lines[i])
        if not match:
            i += 1
            continue
        text, used = logical_directive(lines, i)
        match = DIRECTIVE.match(text) or match
        name, rest = match.group("name"), match.group("rest").strip()
        directive = Directive(i, used, name, text.strip())
        if name in ("ifdef", "elifdef", "ifndef", "elifndef"):
            macro = rest.split()[0] if rest.split() else ""
            directive.kind = "if" if name.startswith("if") else "elif"
            directive.condition = f"defined({macro})" if "def" in name and "ndef" not in name else f"!defined({macro})"
        elif name in ("if", "elif"):
            directive.condition = rest
        if directive.condition:
            directive.node = cexpr.parse(directive.condition)
        if name in ("cmakedefine", "cmakedefine01", "mesondefine") or (template and name == "undef"):
            directive.kind, directive.template = "define", True
            name = "define"
        if name in ("define", "undef"):
            define = _DEFINE.match(rest)
            if not define:
                i += used
                continue
            directive.name = define.group("name")
            if directive.template:
                directive.value = True
            elif name == "define":
                body = define.group("body").strip()
                directive.value = (cexpr.parse(body) or True) if body and not define.group("params") else True
                if not body and not define.group("params"):
                    directive.value = True
        if name == "include":
            directive.condition = rest
        found.append(directive)
        i += used
    return found


# -- macro environment ----------------------------------------------------------------------------------

Lookup = Callable[[str, str], MacroValue]  # (macro, build) -> value before this file's own definitions


@dataclass
class DefineSite:
    """One `#define`/`#undef` of a macro: on which builds it is reached, and what it makes the macro."""

    name: str
    line: int
    reach: dict[str, Value]
    values: dict[str, MacroValue]  # per build: an int, True (defined, value unknown), False (#undef)
    template: bool = False  # a configuration template's placeholder: the build decides
    arm: bool = False  # defined inside a branch that tests for ARM (USE_CLZ_INTRINSIC under __aarch64__)


def _predefined_only(name: str, build: str) -> MacroValue:
    return PREDEFINED[build].get(name)


# -- chains and line contexts ----------------------------------------------------------------------------

@dataclass
class Branch:
    kind: str  # if, elif, else
    line: int  # 1-based
    condition: str
    node: Node | None
    own: dict[str, Value]  # the condition's value per build
    taken: dict[str, Value]  # this branch is the one taken (condition and no earlier branch)
    arm: bool  # tests for ARM (and aarch64 may take it)
    names_arm: bool = False  # the condition names ARM at all (`!(defined(__arm__) || defined(__aarch64__))`)
    errors: list[tuple[int, str]] = field(default_factory=list)  # #error lines directly in this branch

    @property
    def x86_only(self) -> bool:
        """x86_64 may take it, aarch64 never does."""
        return self.taken[TARGET] == 0 and self.taken[SOURCE] != 0


@dataclass
class Chain:
    start: int
    outer: dict[str, Value]  # reach of the chain's enclosing code
    end: int = 0
    branches: list[Branch] = field(default_factory=list)

    @property
    def relevant(self) -> bool:
        """Both builds may reach the chain (it is not inside MSVC-only, MIPS, ARM-only or x86-only code)."""
        return self.outer[TARGET] != 0 and self.outer[SOURCE] != 0

    @property
    def tests_x86(self) -> bool:
        """Some branch is taken by x86_64 and never by aarch64: the chain tells the builds apart."""
        return self.relevant and any(b.x86_only for b in self.branches)

    @property
    def has_arm(self) -> bool:
        """The chain gives ARM its own path: a branch for ARM, or a test that names ARM either way."""
        return any(b.arm or b.names_arm for b in self.branches)

    def arm_branch(self) -> Branch | None:
        return next((b for b in self.branches if b.arm), None) or next(
            (b for b in self.branches if b.names_arm), None)


@dataclass
class LineContext:
    """Where a line sits: the (chain, branch) pairs enclosing it, outermost first, and the file's reach."""

    frames: tuple[tuple[Chain, Branch], ...]
    base: dict[str, Value]

    def reach(self, build: str) -> Value:
        return v_and(self.base[build], *(b.taken[build] for _, b in self.frames))

    @property
    def dead(self) -> bool:
        """Neither build compiles this line."""
        return self.reach(TARGET) == 0 and self.reach(SOURCE) == 0

    @property
    def x86_only(self) -> bool:
        return self.reach(TARGET) == 0 and self.reach(SOURCE) != 0

    @property
    def on_target(self) -> bool:
        return self.reach(TARGET) != 0

    @property
    def target_only(self) -> bool:
        """aarch64 compiles it and x86_64 does not: the branch a port falls into (`#else` of an x86 test)."""
        return self.reach(TARGET) != 0 and self.reach(SOURCE) == 0

    @property
    def arm_guarded(self) -> bool:
        """Inside a branch that tests for ARM: not x86 code at all."""
        return any(b.arm for _, b in self.frames)

    @property
    def arm_sibling(self) -> bool:
        """Inside an x86-only branch whose chain also has an ARM branch (the ported case)."""
        return any(b.x86_only and c.has_arm for c, b in self.frames)


@dataclass
class FileStructure:
    chains: list[Chain]
    contexts: list[LineContext]
    defines: list[DefineSite]


def names_arm(directive: Directive, arm_macro: Callable[[str], bool]) -> bool:
    """The condition names ARM (a predefined ARM macro, an ARM header, or a macro the project
    defines only for ARM), whichever way it tests it."""
    names = cexpr.names_in(directive.node)
    if names & ARM_SPECIFIC or any(n.startswith("__ARM_") for n in names) or any(arm_macro(n) for n in names):
        return True
    return any(h in directive.condition for h in ARM_HEADERS)


def _tests_arm(directive: Directive, own: dict[str, Value], arm_macro: Callable[[str], bool]) -> bool:
    """The branch is an ARM path: its condition names ARM, aarch64 may take it, x86_64 need not."""
    return own[TARGET] != 0 and own[SOURCE] != 1 and names_arm(directive, arm_macro)


def analyse(directives: list[Directive], line_count: int, initial: Lookup = _predefined_only,
            base: dict[str, Value] | None = None, arm_macro: Callable[[str], bool] | None = None) -> FileStructure:
    """Chains, the context of every line (index = line number - 1), and the macros the file defines.

    `initial(name, build)` gives a macro's value before this file's own #defines (predefined by the
    compiler, or defined by the rest of the project); the file's own #define/#undef lines then
    update it in order, as the preprocessor would. `arm_macro(name)` says whether the project
    defines a macro only for ARM; `base` is where the build compiles the file at all.
    """
    base = dict(base or ALWAYS)
    local: dict[str, dict[str, MacroValue]] = {}
    local_arm: dict[str, bool] = {}
    project_arm = arm_macro or (lambda name: False)

    def is_arm_macro(name: str) -> bool:
        return local_arm[name] if name in local_arm else project_arm(name)

    def lookup_for(build: str) -> Callable[[str], MacroValue]:
        def lookup(name: str) -> MacroValue:
            if name in local:
                return local[name][build]
            return initial(name, build)
        return lookup

    lookups = {build: lookup_for(build) for build in BUILDS}
    includes = {build: (lambda h, b=build: _has_include(h, b)) for build in BUILDS}

    def value_of(directive: Directive) -> dict[str, Value]:
        return {b: cexpr.truth(cexpr.evaluate(directive.node, lookups[b], includes[b])) for b in BUILDS}

    chains: list[Chain] = []
    stack: list[tuple[Chain, Branch]] = []
    contexts: list[LineContext] = []
    defines: list[DefineSite] = []

    def reach_here() -> dict[str, Value]:
        return {b: v_and(base[b], *(br.taken[b] for _, br in stack)) for b in BUILDS}

    next_line = 0

    def fill(upto: int) -> None:
        """Lines up to `upto` share one context: nothing changed since the last directive."""
        nonlocal next_line
        upto = min(upto, line_count)
        if upto > next_line:
            contexts.extend([LineContext(tuple(stack), base)] * (upto - next_line))
            next_line = upto

    for directive in directives:
        fill(directive.index)
        line_no = directive.index + 1
        kind = directive.kind
        if kind == "if":
            own = value_of(directive)
            outer = reach_here()
            chain = Chain(start=line_no, outer=outer)
            branch = Branch("if", line_no, directive.condition, directive.node, own, dict(own),
                            _tests_arm(directive, own, is_arm_macro), names_arm(directive, is_arm_macro))
            chain.branches.append(branch)
            chains.append(chain)
            stack.append((chain, branch))
        elif kind in ("elif", "else") and stack:
            chain, _ = stack.pop()
            own = value_of(directive) if kind == "elif" else dict(ALWAYS)
            earlier = {b: v_or(*(br.own[b] for br in chain.branches)) for b in BUILDS}
            taken = {b: v_and(own[b], v_not(earlier[b])) for b in BUILDS}
            branch = Branch(kind, line_no, directive.condition, directive.node, own, taken,
                            kind == "elif" and _tests_arm(directive, taken, is_arm_macro),
                            kind == "elif" and names_arm(directive, is_arm_macro))
            chain.branches.append(branch)
            stack.append((chain, branch))
        elif kind == "endif" and stack:
            chain, _ = stack.pop()
            chain.end = line_no
        elif kind == "error" and stack:
            stack[-1][1].errors.append((line_no, directive.text))
        elif kind in ("define", "undef") and directive.name:
            reach = reach_here()
            value: Node | bool | None = directive.value if kind == "define" else False
            values = {b: _define_value(value, lookups[b], includes[b]) for b in BUILDS}
            in_arm = any(br.arm for _, br in stack)
            site = DefineSite(directive.name, line_no, reach, values, directive.template, in_arm)
            defines.append(site)
            local_arm[directive.name] = in_arm and local_arm.get(directive.name, True)
            if directive.template:
                local[directive.name] = {b: initial(directive.name, b) for b in BUILDS}
            else:
                current = local.get(directive.name) or {b: initial(directive.name, b) for b in BUILDS}
                local[directive.name] = {b: merge_define(current[b], values[b], reach[b]) for b in BUILDS}
        fill(directive.index + directive.used)
    fill(line_count)
    return FileStructure(chains, contexts, defines)


def merge_define(current: MacroValue, new: MacroValue, reach: Value) -> MacroValue:
    """A macro's value after a #define/#undef that is reached (1), not reached (0), or maybe (None)."""
    if reach == 1:
        return new
    if reach == 0:
        return current
    return new if new == current and type(new) is type(current) else None


def _define_value(value: Node | bool | None, lookup: Callable[[str], MacroValue],
                  has_include: Callable[[str], MacroValue]) -> MacroValue:
    """What `#define X body` makes X: its value when the body is a constant expression, else just defined."""
    if value is False:
        return False
    if value is True or value is None:
        return True
    result = cexpr.evaluate(value, lookup, has_include)
    return True if result is None else result
