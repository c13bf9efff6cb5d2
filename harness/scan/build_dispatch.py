"""Read every build file of a tree into one BuildModel (harness.scan.build_model).

Order matters where one file feeds another: configure.ac first (its AM_CONDITIONALs decide
Makefile.am's `if COND`), CMake files together (they share variables, parents first), then
meson.build files and Makefiles. A build file that cannot be read is skipped, never fatal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.scan.build_autoconf import is_autoconf_file, read_autoconf
from harness.scan.build_cmake import is_cmake_file, read_cmake
from harness.scan.build_make import is_makefile, read_makefile
from harness.scan.build_meson import is_meson_file, read_meson
from harness.scan.build_model import BuildModel
from harness.scan.cexpr import Value

log = logging.getLogger(__name__)


def is_dispatch_file(path: Path) -> bool:
    return is_autoconf_file(path) or is_cmake_file(path) or is_makefile(path) or is_meson_file(path)


def read_build_model(root: Path, files: list[Path], display: Callable[[Path], str],
                     read: Callable[[Path], str | None]) -> BuildModel:
    model = BuildModel(root)
    texts = {}
    for path in sorted((p for p in files if is_dispatch_file(p)), key=lambda p: (len(p.parts), str(p))):
        text = read(path)
        if text is not None:
            texts[path] = text
    automake: dict[str, dict[str, Value]] = {}
    for path, text in texts.items():
        if is_autoconf_file(path):
            automake.update(_guarded(path, read_autoconf, model, path, display(path), text) or {})
    cmake = [(p, display(p), t) for p, t in texts.items() if is_cmake_file(p)]
    if cmake:
        _guarded(root, read_cmake, model, cmake)
    for path, text in texts.items():
        if is_meson_file(path):
            _guarded(path, read_meson, model, path, display(path), text)
        elif is_makefile(path):
            _guarded(path, read_makefile, model, path, display(path), text, automake)
    return model


def _guarded(path: Path, action: Callable[..., Any], *args: Any) -> Any:
    """A build file the model cannot follow costs its knowledge, not the scan."""
    try:
        return action(*args)
    except (RecursionError, ValueError, IndexError, KeyError, TypeError, AttributeError) as exc:
        log.warning("build model: %s: %s", path, exc)
        return None
