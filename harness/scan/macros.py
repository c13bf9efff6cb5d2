"""What the project's own macros are on each build: collected from every #define in the tree and
every -D the build files pass, so `#if HAVE_X86_ASM` is as decidable as `#if __x86_64__`.

A macro is undefined on a build when every place that defines it is unreachable there (all its
#defines sit in x86-only branches, or the build passes -D only under an x86 test); it has a
value when every reachable definition agrees; otherwise it is unknown. Placeholders of
configuration templates (`#cmakedefine X`, `#undef X` in config.h.in) are unknown unless the
build model knows the variable. Sites come in passes (a macro defined under another project
macro's test is known one pass later); the scanner runs a few.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.scan.cexpr import Value
from harness.scan.cpp import DefineSite, Lookup, v_and
from harness.scan.platforms import BUILDS, PREDEFINED, MacroValue

_MISSING = object()


@dataclass(frozen=True)
class Site:
    origin: str  # the file (or build file) that defines it
    reach: tuple[tuple[str, Value], ...]
    values: tuple[tuple[str, MacroValue], ...]
    template: bool = False
    arm: bool = False
    flag: object = None  # a build file's -D: asked which files it applies to


class ProjectMacros:
    """Macro definitions of the whole tree, answering "what is X on build B, seen from file F?"."""

    def __init__(self, build_values: dict[str, dict[str, MacroValue]] | None = None,
                 applies: Callable[[Any, str], Value] | None = None) -> None:
        self.sites: dict[str, list[Site]] = defaultdict(list)
        # Variables the build model knows per build (CMake probe results, arch-branch assignments):
        # they decide configuration-template placeholders of the same name.
        self.build_values = build_values or {}
        self.own: dict[str, set[str]] = defaultdict(set)  # origin -> macros it defines itself
        # applies(flag, file): does a build file's -D reach this file (1), not (0), for some of its
        # compilations (None)? The Makefile that builds i7z passes -Dx64_BIT; the GUI's qmake does not.
        self.applies = applies or (lambda flag, origin: 1)

    def add(self, origin: str, sites: list[DefineSite], shared: bool = True) -> None:
        """A file's #defines. Only a shared file's (a header, or a file others include) reach other
        files: a `#define` in one .c file says nothing about another translation unit."""
        for site in sites:
            self.own[origin].add(site.name)
            if not shared:
                continue
            self.sites[site.name].append(Site(origin, tuple(site.reach.items()), tuple(site.values.items()),
                                              site.template, site.arm))

    def add_flag(self, origin: str, name: str, reach: dict[str, Value], value: MacroValue,
                 flag: object = None) -> None:
        """A `-DNAME[=value]` the build passes, reached per build as its build-file branch is."""
        self.sites[name].append(Site(origin, tuple(reach.items()), tuple((b, value) for b in BUILDS),
                                     flag=flag))

    def is_arm(self, name: str) -> bool:
        """Every place that defines the macro is an ARM branch: testing it is testing for ARM."""
        real = [s for s in self.sites.get(name, ()) if not s.template]
        return bool(real) and all(s.arm for s in real)

    def lookup_for(self, origin: str) -> Lookup:
        """The value of a macro before `origin`'s own #defines: predefined, or from the rest of the tree."""
        cache: dict[tuple[str, str], MacroValue] = {}

        def lookup(name: str, build: str) -> MacroValue:
            predefined = PREDEFINED[build].get(name, _MISSING)
            if predefined is not _MISSING:
                return predefined  # type: ignore[return-value]
            key = (name, build)
            if key not in cache:
                cache[key] = self._value(name, build, origin)
            return cache[key]

        return lookup

    def _value(self, name: str, build: str, origin: str) -> MacroValue:
        others = [s for s in self.sites.get(name, ()) if s.origin != origin]
        if not others:
            if name in self.own.get(origin, ()):
                return False  # only this file defines it: not set from outside (the file's own default)
            return self._template_value(name, build) if name in self.build_values else None
        values = []
        for site in others:
            reach = dict(site.reach)[build]
            if site.flag is not None and reach != 0:
                reach = v_and(reach, self.applies(site.flag, origin))
            if reach == 0:
                continue
            value = self._template_value(name, build) if site.template else dict(site.values)[build]
            if reach is None or value is None:
                return None
            values.append(value)
        if not values:
            return False
        first = values[0]
        if all(v == first and type(v) is type(first) for v in values):
            return first
        return None

    def _template_value(self, name: str, build: str) -> MacroValue:
        """A placeholder's value: what the build model knows of the variable, else unknown."""
        known = self.build_values.get(name)
        return None if known is None else known.get(build)
