"""The `local` transport: the controller machine itself, with the same RunResult semantics as SSH.

Each command runs in its own session (process group) so a timeout kills the whole tree, and
output is read with the same byte limit as the SSH transport so a flood cannot exhaust memory.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import time
from pathlib import Path

from harness.core import shell
from harness.inventory import Target
from harness.transport.base import DEFAULT_OUTPUT_LIMIT, RunResult
from harness.transport.commandlog import CommandLog

EXIT_GRACE_S = 0.1  # after the command exits, how long to keep reading output still in the pipes


class LocalConnection:
    """Runs commands on the controller with /bin/sh."""

    def __init__(self, target: Target, log: CommandLog | None = None,
                 output_limit: int = DEFAULT_OUTPUT_LIMIT) -> None:
        self.target = target
        self.name = target.name
        self.log = log or CommandLog(None)
        self.output_limit = output_limit

    def connect(self) -> None:
        """Nothing to open; present so every transport can be connected the same way."""

    def run(self, command: str, timeout: float | None = None) -> RunResult:
        timeout = self.target.command_timeout if timeout is None else timeout
        env = dict(os.environ, LC_ALL="C", PATH=f"{shell.REMOTE_PATH}:{os.environ.get('PATH', '')}")
        started = time.monotonic()
        proc = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True, env=env)
        kept = {"stdout": bytearray(), "stderr": bytearray()}
        dropped = {"stdout": 0, "stderr": 0}
        timed_out = False
        deadline = started + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ, "stdout")  # type: ignore[arg-type]
            sel.register(proc.stderr, selectors.EVENT_READ, "stderr")  # type: ignore[arg-type]
            exited_at: float | None = None
            while sel.get_map():
                now = time.monotonic()
                if now >= deadline:
                    timed_out = proc.poll() is None
                    break
                if exited_at is None and proc.poll() is not None:
                    exited_at = now
                if exited_at is not None and now - exited_at > EXIT_GRACE_S:
                    break  # the command ended; a background child still holds the pipes (as over SSH)
                wait = min(deadline - now, EXIT_GRACE_S if exited_at is not None else 0.05)
                for key, _ in sel.select(wait):
                    data = os.read(key.fd, 65536)
                    if not data:
                        sel.unregister(key.fileobj)
                        continue
                    room = max(0, self.output_limit - len(kept[key.data]))
                    kept[key.data] += data[:room]
                    dropped[key.data] += max(0, len(data) - room)
        try:
            rc = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:  # the command closed its pipes but runs on
            timed_out = True
        if timed_out:
            _kill_group(proc)
            rc = proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
        elapsed = time.monotonic() - started

        def text(stream: str) -> str:
            out = bytes(kept[stream]).decode("utf-8", "replace")
            if dropped[stream]:
                out += f"\n[xch: output truncated, {dropped[stream]} bytes dropped]\n"
            return out

        result = RunResult(command=command, rc=rc, stdout=text("stdout"), stderr=text("stderr"),
                           elapsed=elapsed, timed_out=timed_out,
                           truncated=bool(dropped["stdout"] or dropped["stderr"]), target=self.name)
        self.log.command(command, result.rc, elapsed, result.stdout, result.stderr, timed_out, result.truncated)
        return result

    def put(self, local: str | Path, remote: str) -> None:
        shutil.copyfile(local, remote)

    def get(self, remote: str, local: str | Path) -> None:
        shutil.copyfile(remote, local)

    def close(self) -> None:
        """Nothing to close."""


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
