"""The one TOML reader of xch's input files: every way a file can be unreadable becomes a clear InputError.

Inventories, product manifests, perf criteria, parity files and the whitelist policy are all read
here, so each of them refuses the same things the same way (exit 2, never a traceback):
a missing file, a folder or FIFO where a file should be (reading a FIFO would hang), a file larger
than MAX_BYTES, text that is not UTF-8 (with the line of the first bad byte), a TOML syntax error
as `file:line:column: message` (what editors and CI logs link to), and nesting so deep that the
standard parser would overflow the stack.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from harness.core.errors import InputError

MAX_BYTES = 8 * 1024 * 1024  # far above any real inventory or manifest; bounds memory and parse time
_POSITION = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)\Z")


def read_toml(path: Path | str, subject: str, *, missing: str = "") -> dict[str, Any]:
    """The parsed TOML of `path`; `subject` ("inventory", "parity file"...) is said in errors.

    missing: the message for a file that does not exist (default "no such <subject> file").
    """
    path = Path(path)
    try:
        if not path.is_file():
            if path.exists():
                raise InputError(f"{path}: not a regular file (expected a {subject})")
            raise FileNotFoundError(path)
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise InputError(f"{path}: {size:,} bytes; a {subject} may be at most {MAX_BYTES:,} bytes")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: {missing or f'no such {subject} file'}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {subject}: {exc.strerror or exc}") from None
    return parse_toml(raw, path, subject)


def parse_toml(raw: bytes, path: Path | str, subject: str) -> dict[str, Any]:
    """Parse bytes already read (callers that also digest them, like the whitelist policy)."""
    if len(raw) > MAX_BYTES:
        raise InputError(f"{path}: {len(raw):,} bytes; a {subject} may be at most {MAX_BYTES:,} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                         f"a {subject} must be UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message, line, column = _located(str(exc), text)
        raise InputError(f"{path}:{line}:{column}: not valid TOML: {message}") from None
    except RecursionError:
        raise InputError(f"{path}: not valid TOML for xch: arrays or inline tables nested too deeply") from None


def _located(message: str, text: str) -> tuple[str, int, int]:
    """tomllib says `Invalid value (at line 3, column 5)` or `(at end of document)`; split that off."""
    match = _POSITION.search(message)
    if not match:
        return message, 1, 1
    if match.group(1):
        return message[:match.start()], int(match.group(1)), int(match.group(2))
    lines = text.split("\n")
    return message[:match.start()], len(lines), len(lines[-1]) + 1
