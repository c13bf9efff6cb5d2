"""The one atomic file writer: readers see the old file or the new one, never half of either.

Every whole file xch writes (run.json, junit.xml, facts, lab state and inventory, exports, scan
reports, evidence bundles, caches) goes through here: a temp file in the same folder (so the rename
cannot cross a file system), flushed and fsynced, given its final mode, renamed over the old file,
and the folder fsynced so the rename itself survives a power cut. A failure removes the temp file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def _default_mode() -> int:
    """What open() would give a new file under the current umask (mkstemp's 0600 is for secrets)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_file(path: Path, mode: int | None = None) -> Iterator[IO[bytes]]:
    """A binary file object whose content replaces `path` when the block ends without error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _default_mode() if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def _unchanged(path: Path, raw: bytes, mode: int | None) -> bool:
    try:
        if path.is_symlink() or (mode is not None and (path.stat().st_mode & 0o7777) != mode):
            return False
        return path.read_bytes() == raw
    except OSError:
        return False


def atomic_write(path: Path, data: str | bytes, mode: int | None = None, *, keep_if_same: bool = False) -> None:
    """Write `data` (text as UTF-8) to `path` atomically.

    keep_if_same: leave an identical file (content and mode) untouched, so an idempotent re-run keeps
    its mtime (the lab's inventory and state files).
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if keep_if_same and _unchanged(Path(path), raw, mode):
        return
    with atomic_file(path, mode) as fh:
        fh.write(raw)


def atomic_write_json(path: Path, data: Any) -> None:
    """JSON, indented and UTF-8 (Chinese stays readable), written atomically."""
    atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")
