"""The transport-neutral result of a remote command and the protocol every transport follows."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from harness.core.errors import InfraError

DEFAULT_COMMAND_TIMEOUT = 300.0
DEFAULT_OUTPUT_LIMIT = 8 * 1024 * 1024  # bytes kept per stream; the rest is dropped with a marker


@dataclass
class RunResult:
    """What one command did. A non-zero exit is data, not an exception; use check() to assert."""

    command: str
    rc: int
    stdout: str
    stderr: str
    elapsed: float
    timed_out: bool = False
    truncated: bool = False
    target: str = ""

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.timed_out

    def check(self, expect_rc: int | tuple[int, ...] = 0) -> RunResult:
        """Assert success: raise CommandFailed (an AssertionError, so the check 'fails') on a wrong
        exit code, and CommandTimeout (an infrastructure error, so the check is 'error') on a timeout."""
        if self.timed_out:
            raise CommandTimeout(self)
        allowed = (expect_rc,) if isinstance(expect_rc, int) else tuple(expect_rc)
        if self.rc not in allowed:
            raise CommandFailed(self)
        return self

    def to_dict(self) -> dict:
        return asdict(self)


class CommandFailed(AssertionError):
    """A command did not exit as expected. It is an AssertionError so pytest reports 'failed'."""

    def __init__(self, result: RunResult) -> None:
        self.result = result
        what = "timed out" if result.timed_out else f"exited {result.rc}"
        tail = (result.stderr or result.stdout).strip()[-500:]
        where = f" on {result.target}" if result.target else ""
        super().__init__(f"command {what}{where}: {result.command!r}" + (f"\n{tail}" if tail else ""))


class CommandTimeout(InfraError):
    """A command did not finish within its timeout; it was killed on the target."""

    def __init__(self, result: RunResult) -> None:
        self.result = result
        where = f" on {result.target}" if result.target else ""
        super().__init__(f"command timed out after {result.elapsed:.1f}s{where}: {result.command!r}")


class Connection(Protocol):
    """What suites and facts need from a target: run commands, move files, close."""

    name: str

    def run(self, command: str, timeout: float | None = None) -> RunResult: ...

    def put(self, local: str | Path, remote: str) -> None: ...

    def get(self, remote: str, local: str | Path) -> None: ...

    def close(self) -> None: ...
