"""A small C preprocessor model: comments stripped, and the #if chains with what each branch tests.

Not a preprocessor: nothing is evaluated. It answers the questions the porting rules ask: is
this line inside an x86-only branch, inside the branch aarch64 would compile (the `#else` of an
x86 test, or an `#if !defined(__SSE2__)`), and does the chain it belongs to have an ARM branch?
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.scan.patterns import ARM_MACROS, X86_MACROS

DIRECTIVE = re.compile(r"^\s*#\s*(?P<name>ifdef|ifndef|if|elifdef|elifndef|elif|else|endif|error)\b(?P<rest>.*)$")


def strip_comments(text: str) -> tuple[list[str], list[str]]:
    """Two views of the file, line for line: comments removed; and comments plus literals removed.

    Inline assembly lives in string literals, so its rule reads the first view; every other rule
    reads the second, so a `_mm_add_ps` in a log message is not code.
    """
    code: list[str] = []
    bare: list[str] = []
    cur_code: list[str] = []
    cur_bare: list[str] = []
    i, n = 0, len(text)
    state = "code"  # code | block | line | str | chr
    while i < n:
        ch = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if ch == "\n":
            if state == "line":
                state = "code"
            if state in ("str", "chr"):
                state = "code"  # unterminated literal: do not let it swallow the file
            code.append("".join(cur_code))
            bare.append("".join(cur_bare))
            cur_code, cur_bare = [], []
            i += 1
            continue
        if state == "code":
            if ch == "/" and nxt == "*":
                state = "block"
                cur_code.append(" ")
                cur_bare.append(" ")
                i += 2
                continue
            if ch == "/" and nxt == "/":
                state = "line"
                i += 2
                continue
            if ch == '"' or (ch == "'" and not (i > 0 and text[i - 1].isalnum())):
                state = "str" if ch == '"' else "chr"
                cur_code.append(ch)
                cur_bare.append(ch)
                i += 1
                continue
            cur_code.append(ch)
            cur_bare.append(ch)
        elif state == "block":
            if ch == "*" and nxt == "/":
                state = "code"
                i += 2
                continue
        elif state in ("str", "chr"):
            quote = '"' if state == "str" else "'"
            if ch == "\\" and nxt:
                cur_code.append(ch + (nxt if nxt != "\n" else ""))
                if nxt == "\n":
                    code.append("".join(cur_code))
                    bare.append("".join(cur_bare))
                    cur_code, cur_bare = [], []
                i += 2
                continue
            cur_code.append(ch)
            if ch == quote:
                cur_bare.append(ch)
                state = "code"
        i += 1
    code.append("".join(cur_code))
    bare.append("".join(cur_bare))
    return code, bare


def logical_directive(lines: list[str], index: int) -> tuple[str, int]:
    """A directive with its backslash continuations joined; returns (text, lines consumed)."""
    text = lines[index]
    used = 1
    while text.rstrip().endswith("\\") and index + used < len(lines):
        text = text.rstrip()[:-1] + " " + lines[index + used]
        used += 1
    return text, used


def x86_polarity(condition: str) -> str:
    """'pos' if the condition tests an x86 macro being defined/true, 'neg' if only negated, '' if none."""
    hits = list(X86_MACROS.finditer(condition))
    if not hits:
        return ""
    if _negated_whole(condition.strip()):
        return "neg"  # `!( ... )` around the whole condition
    positive = False
    for hit in hits:
        before = condition[:hit.start()].rstrip()
        before = re.sub(r"defined\s*\(?\s*$", "", before).rstrip()
        if not before.endswith("!"):
            positive = True
    return "pos" if positive else "neg"


_ARCH_TERM = re.compile(r"!?\s*defined\s*\(\s*(\w+)\s*\)|!?\s*defined\s+(\w+)|!?\s*\b(\w+)\b")


def pure_arch_test(condition: str) -> bool:
    """True when the condition tests nothing but x86 macros (`defined(__x86_64__) || defined(_M_X64)`).

    Only then is its `#else` "not x86": the `#else` of `_MSC_VER && _M_IX86` is any compiler.
    """
    rest = condition
    for match in _ARCH_TERM.finditer(condition):
        name = next(g for g in match.groups() if g)
        if X86_MACROS.fullmatch(name):
            rest = rest.replace(match.group(0), " ", 1)
    return re.sub(r"[()|&!\s]", "", rest) == ""


def _negated_whole(text: str) -> bool:
    """True for `!( ... )` where the parenthesis closes at the very end of the condition."""
    if not re.match(r"^!\s*\(", text):
        return False
    depth = 0
    start = text.index("(")
    for pos in range(start, len(text)):
        if text[pos] == "(":
            depth += 1
        elif text[pos] == ")":
            depth -= 1
            if depth == 0:
                return text[pos + 1:].strip() == ""
    return False


@dataclass
class Branch:
    kind: str  # if, elif, else
    line: int  # 1-based
    condition: str
    x86: str  # pos, neg, or ''
    arm: bool
    errors: list[tuple[int, str]] = field(default_factory=list)  # #error lines directly in this branch


@dataclass
class Chain:
    start: int
    end: int = 0
    branches: list[Branch] = field(default_factory=list)

    @property
    def tests_x86(self) -> bool:
        return any(b.x86 for b in self.branches)

    @property
    def has_arm(self) -> bool:
        return any(b.arm for b in self.branches)

    def non_x86(self, branch: Branch) -> bool:
        """Is this the branch an aarch64 build takes (given no ARM branch precedes it)?"""
        if branch.x86 == "neg":
            return True
        if branch.kind == "else":
            earlier = [b for b in self.branches if b.line < branch.line]
            return (any(b.x86 == "pos" and pure_arch_test(b.condition) for b in earlier)
                    and not any(b.arm for b in earlier))
        return False


@dataclass
class LineContext:
    """Where a line sits: the (chain, branch) pairs enclosing it, outermost first."""

    frames: tuple[tuple[Chain, Branch], ...]

    @property
    def x86_guarded(self) -> bool:
        return any(b.x86 == "pos" for _, b in self.frames)

    @property
    def arm_sibling(self) -> bool:
        """Inside an x86 branch whose chain also has an ARM branch (the ported case)."""
        return any(b.x86 == "pos" and c.has_arm for c, b in self.frames)

    @property
    def arm_guarded(self) -> bool:
        return any(b.arm and b.x86 != "pos" for _, b in self.frames)

    @property
    def in_non_x86(self) -> bool:
        return any(c.non_x86(b) and not c.has_arm for c, b in self.frames)


def _directive_kind(name: str, rest: str) -> tuple[str, str]:
    """Normalise to (kind, condition) with #ifdef X -> 'defined(X)' and #ifndef X -> '!defined(X)'."""
    rest = rest.strip()
    if name in ("ifdef", "elifdef"):
        return ("if" if name == "ifdef" else "elif"), f"defined({rest})"
    if name in ("ifndef", "elifndef"):
        return ("if" if name == "ifndef" else "elif"), f"!defined({rest})"
    return name, rest


def analyse(lines: list[str]) -> tuple[list[Chain], list[LineContext]]:
    """Chains of the file and the context of every line (index = line number - 1)."""
    chains: list[Chain] = []
    stack: list[tuple[Chain, Branch]] = []
    contexts: list[LineContext] = []
    i = 0
    while i < len(lines):
        match = DIRECTIVE.match(lines[i])
        used = 1
        if match:
            text, used = logical_directive(lines, i)
            match = DIRECTIVE.match(text) or match
            kind, cond = _directive_kind(match.group("name"), match.group("rest"))
            line_no = i + 1
            if kind == "if":
                chain = Chain(start=line_no)
                branch = Branch("if", line_no, cond, x86_polarity(cond), bool(ARM_MACROS.search(cond)))
                chain.branches.append(branch)
                chains.append(chain)
                stack.append((chain, branch))
            elif kind in ("elif", "else") and stack:
                chain, _ = stack.pop()
                branch = Branch(kind, line_no, cond if kind == "elif" else "",
                                x86_polarity(cond) if kind == "elif" else "", bool(ARM_MACROS.search(cond)))
                chain.branches.append(branch)
                stack.append((chain, branch))
            elif kind == "endif" and stack:
                chain, _ = stack.pop()
                chain.end = line_no
            elif kind == "error" and stack:
                stack[-1][1].errors.append((line_no, text.strip()))
        for _ in range(used):
            contexts.append(LineContext(tuple(stack)))
        i += used
    return chains, contexts
