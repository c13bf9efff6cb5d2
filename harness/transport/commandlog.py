"""Per-target command logs with secrets masked: every remote command and its output, in the run folder.

A lab reviewer must be able to see exactly what was run on a target and what it answered, and no
password or passphrase may ever land in those files.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterable
from pathlib import Path

MASK = "********"


class Masker:
    """Replaces every registered secret value in text with a fixed mask.

    Secrets of four characters or more are masked wherever they occur. Shorter ones are masked
    where they stand as a whole word: masking every occurrence of, say, "ab" would garble all text,
    and a password that short is weak anyway.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._long: set[str] = set()
        self._short: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if secret:
            (self._long if len(secret) >= 4 else self._short).add(secret)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._long, key=len, reverse=True):
            text = text.replace(secret, MASK)
        for secret in self._short:
            text = re.sub(rf"(?<!\w){re.escape(secret)}(?!\w)", MASK, text)
        return text


def _indent(text: str) -> str:
    return "".join(f"  | {line}\n" for line in text.splitlines()) if text else ""


class CommandLog:
    """Appends one block per command to `<dir>/commands.log`, flushed per command so a crash keeps it."""

    def __init__(self, directory: Path | None, masker: Masker | None = None) -> None:
        self.path = directory / "commands.log" if directory else None
        self.mask = masker or Masker()
        self._lock = threading.Lock()
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def note(self, message: str) -> None:
        self._write(f"{_stamp()} # {self.mask(message)}\n")

    def command(self, command: str, rc: int, elapsed: float, stdout: str, stderr: str,
                timed_out: bool = False, truncated: bool = False) -> None:
        flags = (" TIMED-OUT" if timed_out else "") + (" TRUNCATED" if truncated else "")
        block = (
            f"{_stamp()} $ {self.mask(command)}\n"
            f"  rc={rc} elapsed={elapsed:.3f}s{flags}\n"
            + (f"  stdout:\n{_indent(self.mask(stdout))}" if stdout else "")
            + (f"  stderr:\n{_indent(self.mask(stderr))}" if stderr else "")
        )
        self._write(block)

    def _write(self, text: str) -> None:
        if not self.path:
            return
        data = text.encode("utf-8", "replace")
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)


def _stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"
