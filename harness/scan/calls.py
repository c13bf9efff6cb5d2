"""Who can see and call what, across the tree's C files: local includes and static functions.

Two questions the C rules ask of the whole tree:
- which intrinsic-looking names does the project define where a file sees them (its own file
  and the headers it includes, transitively)? cpufrequtils defines its own `__cpuid()`;
- is a `static` function ever called by code an aarch64 build compiles? x86 inline assembly in a
  `static inline` helper that only x86-only branches call is never emitted on aarch64.
Call sites are found by name (`name(`) in the files that can see the function: its own file, and
for a header every file that includes it. A call from file scope (a macro body) counts as a use.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from harness.scan.cfunc import FunctionIndex
from harness.scan.patterns import is_declaration_prefix
from harness.scan.platforms import TARGET

if TYPE_CHECKING:
    from harness.scan.source_c import CAnalysis

HEADER_SUFFIXES = {".h", ".hh", ".hpp", ".hxx", ".h++", ".inl", ".ipp", ".tcc", ".cuh", ".inc"}
MAX_DEPTH = 6


class CallGraph:
    def __init__(self, analyses: dict[Path, CAnalysis]) -> None:
        self.analyses = analyses
        self.by_name: dict[str, list[Path]] = {}
        for path in analyses:
            self.by_name.setdefault(path.name, []).append(path)
        self._closure: dict[Path, frozenset[Path]] = {}
        self._includers: dict[Path, list[Path]] | None = None
        self._index: dict[Path, FunctionIndex] = {}
        self._text: dict[Path, str] = {}
        self._live: dict[tuple[Path, str], bool] = {}

    # -- includes --------------------------------------------------------------------------------------
    def resolve(self, path: Path, header: str) -> Path | None:
        local = path.parent / header
        if local in self.analyses:
            return local
        candidates = self.by_name.get(Path(header).name, [])
        return candidates[0] if len(candidates) == 1 else None

    def closure(self, path: Path) -> frozenset[Path]:
        """The tree's files `path` includes, directly or not (quoted includes only)."""
        if path in self._closure:
            return self._closure[path]
        seen: set[Path] = set()
        pending = [path]
        while pending:
            current = pending.pop()
            found = self.analyses.get(current)
            if found is None:
                continue
            for _, header, quoted in found.includes:
                if not quoted:
                    continue
                target = self.resolve(current, header)
                if target is not None and target not in seen and target != path:
                    seen.add(target)
                    pending.append(target)
        self._closure[path] = frozenset(seen)
        return self._closure[path]

    def includers(self, header: Path) -> list[Path]:
        if self._includers is None:
            self._includers = {}
            for path in self.analyses:
                for included in self.closure(path):
                    self._includers.setdefault(included, []).append(path)
        return self._includers.get(header, [])

    def own_names(self, path: Path) -> set[str]:
        """Intrinsic-looking names defined by the file or the tree's headers it includes."""
        names = set(self.analyses[path].defined_names)
        for included in self.closure(path):
            names |= self.analyses[included].defined_names
        return names

    # -- static functions ---------------------------------------------------------------------------
    def index(self, path: Path) -> FunctionIndex:
        if path not in self._index:
            self._index[path] = FunctionIndex(self.analyses[path].bare)
        return self._index[path]

    def dead_on_target(self, path: Path, line: int) -> bool:
        """The line is inside a static function that no aarch64-compiled code calls."""
        function = self.index(path).at(line)
        if function is None or not function.static:
            return False
        return not self._is_live(path, function.name, 0)

    def _is_live(self, path: Path, name: str, depth: int) -> bool:
        key = (path, name)
        if key in self._live:
            return self._live[key]
        if depth > MAX_DEPTH:
            return True
        self._live[key] = False  # a cycle of static functions calling each other is not a use
        live = any(self._is_use(caller, number, column, name, depth) for caller, number, column in
                   self._calls(path, name))
        self._live[key] = live
        return live

    def _calls(self, path: Path, name: str) -> Iterator[tuple[Path, int, int]]:
        files = [path] + (self.includers(path) if path.suffix.lower() in HEADER_SUFFIXES else [])
        pattern = re.compile(rf"\b{re.escape(name)}\s*\(")
        for caller in files:
            text = self._text.get(caller)
            if text is None:
                text = self._text[caller] = "\n".join(self.analyses[caller].bare)
            if name not in text:
                continue
            line, last = 1, 0
            for match in pattern.finditer(text):
                line += text.count("\n", last, match.start())
                last = match.start()
                column = match.start() - (text.rfind("\n", 0, match.start()) + 1)
                yield caller, line, column

    def _is_use(self, caller: Path, number: int, column: int, name: str, depth: int) -> bool:
        found = self.analyses[caller]
        contexts = found.contexts
        if number - 1 < len(contexts) and contexts[number - 1].reach(TARGET) == 0:
            return False
        prefix = found.bare[number - 1][:column]
        enclosing = self.index(caller).at(number)
        if enclosing is None:
            if is_declaration_prefix(prefix) or prefix.strip().endswith("define"):
                return False  # a prototype, a definition's own line, a macro named like it
            return not any(f.name == name and number <= f.start <= number + 3 for f in self.index(caller).functions)
        if enclosing.name == name:
            return False  # recursion, or the definition's own line
        if not enclosing.static:
            return True
        return self._is_live(caller, enclosing.name, depth + 1)
