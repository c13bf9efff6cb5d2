"""meson.build files for the build model: if/elif/else/endif with host_machine.cpu_family().

Conditions are meson expressions, close enough to Python's to parse with `ast`: comparisons of
`host_machine.cpu_family()` / `.cpu()` (or a variable holding one) with strings and arrays,
`and`/`or`/`not`, `in`, `.startswith()`. Anything else is unknown.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from harness.scan.build_model import BuildModel, Event, record, walk
from harness.scan.cexpr import Value
from harness.scan.cpp import v_and, v_not, v_or
from harness.scan.platforms import BUILD_FACTS, BUILDS

_KEYWORD = re.compile(r"^\s*(?P<kw>if|elif|else|endif|foreach|endforeach)\b(?P<rest>.*)$")
_ASSIGN = re.compile(r"^\s*(?P<name>[A-Za-z_]\w*)\s*=\s*(?P<value>.+)$")
_UNKNOWN = object()


def is_meson_file(path: Path) -> bool:
    return path.name in ("meson.build", "meson_options.txt")


class MesonSyntax:
    def __init__(self) -> None:
        self.vars: dict[str, dict[str, object]] = {}

    def expand(self, token: str, build: str) -> str | None:
        return None

    def condition(self, text: str, build: str) -> Value:
        try:
            tree = ast.parse(_pythonish(text), mode="eval")
        except (SyntaxError, ValueError):
            return None
        value = self._eval(tree.body, build)
        if value is _UNKNOWN:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
            return value
        return int(bool(value))

    def statement(self, text: str, reach: dict[str, Value]) -> None:
        match = _ASSIGN.match(text)
        if not match:
            return
        try:
            tree = ast.parse(_pythonish(match.group("value")), mode="eval")
        except (SyntaxError, ValueError):
            self.vars.pop(match.group("name"), None)
            return
        slot = self.vars.setdefault(match.group("name"), {b: _UNKNOWN for b in BUILDS})
        for build in BUILDS:
            if reach[build] == 1:
                slot[build] = self._eval(tree.body, build)
            elif reach[build] is None:
                slot[build] = _UNKNOWN

    def _eval(self, node: ast.AST, build: str) -> object:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.List):
            items = [self._eval(e, build) for e in node.elts]
            return _UNKNOWN if _UNKNOWN in items else items
        if isinstance(node, ast.Name):
            if node.id in ("true", "false"):
                return node.id == "true"
            return self.vars.get(node.id, {}).get(build, _UNKNOWN)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            method = node.func.attr
            if isinstance(owner, ast.Name) and owner.id in ("host_machine", "target_machine") and \
                    method in ("cpu_family", "cpu"):
                return BUILD_FACTS[build]["cpu"]
            if isinstance(owner, ast.Name) and owner.id in ("host_machine", "target_machine") and \
                    method == "system":
                return "linux"
            if method in ("startswith", "endswith", "contains") and len(node.args) == 1:
                subject = self._eval(owner, build)
                argument = self._eval(node.args[0], build)
                if isinstance(subject, str) and isinstance(argument, str):
                    return getattr(subject, method if method != "contains" else "__contains__")(argument)
                if method == "contains" and isinstance(subject, list) and argument is not _UNKNOWN:
                    return argument in subject
            return _UNKNOWN
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            value = self._tri(node.operand, build)
            return _UNKNOWN if value is None else bool(v_not(value))
        if isinstance(node, ast.BoolOp):
            values = [self._tri(v, build) for v in node.values]
            combined = v_and(*values) if isinstance(node.op, ast.And) else v_or(*values)
            return _UNKNOWN if combined is None else bool(combined)
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            left = self._eval(node.left, build)
            right = self._eval(node.comparators[0], build)
            if left is _UNKNOWN or right is _UNKNOWN:
                return _UNKNOWN
            op = node.ops[0]
            try:
                if isinstance(op, ast.Eq):
                    return left == right
                if isinstance(op, ast.NotEq):
                    return left != right
                if isinstance(op, ast.In):
                    return left in right  # type: ignore[operator]
                if isinstance(op, ast.NotIn):
                    return left not in right  # type: ignore[operator]
            except TypeError:
                return _UNKNOWN
        return _UNKNOWN

    def _tri(self, node: ast.AST, build: str) -> Value:
        value = self._eval(node, build)
        return None if value is _UNKNOWN else int(bool(value))


def _pythonish(text: str) -> str:
    return text.strip().replace("\n", " ")


def events(text: str) -> list[Event]:
    out: list[Event] = []
    for number, line in enumerate(text.split("\n"), start=1):
        code = line.split("#", 1)[0] if "'" not in line else line
        match = _KEYWORD.match(code)
        if match:
            kw = match.group("kw")
            if kw in ("if", "elif"):
                out.append(Event(number, kw, match.group("rest").strip()))
            elif kw == "else":
                out.append(Event(number, "else", ""))
            elif kw == "endif":
                out.append(Event(number, "end", ""))
            continue
        if code.strip():
            out.append(Event(number, "stmt", code))
    return out


def read_meson(model: BuildModel, path: Path, display: str, text: str) -> None:
    syntax = MesonSyntax()
    statements = walk(events(text), syntax)
    record(model, path, display, statements, syntax)
