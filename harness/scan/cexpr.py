"""`#if` conditions, parsed once and evaluated per build in three-valued logic (1/0/None = unknown).

Not a preprocessor: there is no macro expansion. An identifier takes its value from a table
(the compiler's predefined macros per build, plus what the project itself defines where it can
be known); anything else is unknown, and unknown propagates (`unknown && 0` is still 0). A
condition that does not parse is unknown as a whole, never an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from harness.scan.platforms import MacroValue

Value = int | None  # None: unknown
Lookup = Callable[[str], MacroValue]
IncludeTest = Callable[[str], MacroValue]

_TOKEN = re.compile(
    r"\s*(?:(?P<num>0[xX][0-9a-fA-F]+|\d+)[uUlL]*|(?P<chr>'(?:\\.|[^'])')|(?P<id>[A-Za-z_]\w*)|"
    r"(?P<hdr><[\w./+-]+>|\"[\w./+-]+\")|(?P<op>&&|\|\||==|!=|<=|>=|<<|>>|[-+*/%<>!~&|^?:(),]))")


@dataclass(frozen=True)
class Node:
    kind: str  # num, id, defined, has_include, call, unary, binary, cond
    value: int | str = 0
    args: tuple[Node, ...] = ()


class _ParseError(Exception):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise _ParseError(text[pos:pos + 20])
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


_BINARY = {"||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6, "<": 7, ">": 7, "<=": 7, ">=": 7,
           "<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10}


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

    def take(self, text: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if text is not None and token[1] != text:
            raise _ParseError(f"expected {text!r}, got {token[1]!r}")
        if token[0] == "end":
            raise _ParseError("unexpected end")
        self.pos += 1
        return token

    def expression(self) -> Node:
        node = self.binary(1)
        if self.peek()[1] == "?":
            self.take("?")
            then = self.expression()
            self.take(":")
            other = self.expression()
            node = Node("cond", 0, (node, then, other))
        return node

    def binary(self, level: int) -> Node:
        node = self.unary()
        while True:
            kind, text = self.peek()
            if kind != "op" or text not in _BINARY or _BINARY[text] < level:
                return node
            self.take()
            right = self.binary(_BINARY[text] + 1)
            node = Node("binary", text, (node, right))

    def unary(self) -> Node:
        kind, text = self.peek()
        if kind == "op" and text in ("!", "-", "+", "~"):
            self.take()
            return Node("unary", text, (self.unary(),))
        return self.primary()

    def primary(self) -> Node:
        kind, text = self.take()
        if kind == "num":
            return Node("num", int(text, 0) if not (text.startswith("0") and text.isdigit() and len(text) > 1)
                        else int(text, 8))
        if kind == "chr":
            return Node("num", ord(text[1:-1][-1]))
        if text == "(":
            node = self.expression()
            self.take(")")
            return node
        if kind != "id":
            raise _ParseError(text)
        if text == "defined":
            if self.peek()[1] == "(":
                self.take("(")
                name = self.take()[1]
                self.take(")")
            else:
                name = self.take()[1]
            return Node("defined", name)
        if text in ("__has_include", "__has_include_next"):
            self.take("(")
            header = self.take()[1]
            while self.peek()[1] != ")":  # <sys/x.h> split by the tokenizer never happens; be lenient
                header += self.take()[1]
            self.take(")")
            return Node("has_include", header)
        if self.peek()[1] == "(":  # a function-like macro (__has_attribute(x), __GNUC_PREREQ(4, 2))
            depth = 0
            while True:
                token = self.take()[1]
                depth += token == "("
                depth -= token == ")"
                if depth == 0:
                    break
            return Node("call", text)
        return Node("id", text)


def parse(condition: str) -> Node | None:
    """The condition's tree, or None when it does not parse (then it is unknown on every build)."""
    try:
        parser = _Parser(_tokens(condition))
        node = parser.expression()
        if parser.peek()[0] != "end":
            return None
        return node
    except (_ParseError, ValueError, IndexError, RecursionError):
        return None


def _truth(value: Value) -> Value:
    return None if value is None else int(bool(value))


def evaluate(node: Node | None, lookup: Lookup, has_include: IncludeTest) -> Value:
    """The condition's value on one build: an int, or None when it depends on something unknown."""
    if node is None:
        return None
    kind = node.kind
    if kind == "num":
        return int(node.value)
    if kind == "id":
        macro = lookup(str(node.value))
        if macro is False:
            return 0
        if macro is True:  # defined, value unknown
            return None
        return macro
    if kind == "defined":
        macro = lookup(str(node.value))
        return None if macro is None else (0 if macro is False else 1)
    if kind == "has_include":
        found = has_include(str(node.value))
        return None if found is None else (0 if found is False else 1)
    if kind == "call":
        return None
    if kind == "unary":
        value = evaluate(node.args[0], lookup, has_include)
        if value is None:
            return None
        return {"!": int(not value), "-": -value, "+": value, "~": ~value}[str(node.value)]
    if kind == "cond":
        test = evaluate(node.args[0], lookup, has_include)
        then = evaluate(node.args[1], lookup, has_include)
        other = evaluate(node.args[2], lookup, has_include)
        if test is None:
            return then if then == other else None
        return then if test else other
    op = str(node.value)
    left = evaluate(node.args[0], lookup, has_include)
    right = evaluate(node.args[1], lookup, has_include)
    if op == "&&":
        if left == 0 or right == 0:
            return 0
        return None if left is None or right is None else 1
    if op == "||":
        if (left is not None and left) or (right is not None and right):
            return 1
        return None if left is None or right is None else 0
    if left is None or right is None:
        return None
    try:
        return {"==": lambda: int(left == right), "!=": lambda: int(left != right),
                "<": lambda: int(left < right), ">": lambda: int(left > right),
                "<=": lambda: int(left <= right), ">=": lambda: int(left >= right),
                "+": lambda: left + right, "-": lambda: left - right, "*": lambda: left * right,
                "/": lambda: int(left / right), "%": lambda: left % right, "&": lambda: left & right,
                "|": lambda: left | right, "^": lambda: left ^ right,
                "<<": lambda: left << min(right, 64), ">>": lambda: left >> min(right, 64)}[op]()
    except (ZeroDivisionError, ValueError, OverflowError):
        return None


def names_in(node: Node | None) -> set[str]:
    """Every macro name the condition tests (for telling which conditions are about architectures)."""
    if node is None:
        return set()
    found = {str(node.value)} if node.kind in ("id", "defined") else set()
    for child in node.args:
        found |= names_in(child)
    return found


def truth(value: Value) -> Value:
    """1/0/None of a condition's value (any non-zero int is 1)."""
    return _truth(value)
