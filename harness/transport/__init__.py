"""Transports: how xch reaches a target. `open_connection` picks one from the inventory entry."""

from __future__ import annotations

from pathlib import Path

from harness.inventory import Inventory, Target
from harness.transport.base import CommandFailed, CommandTimeout, Connection, RunResult
from harness.transport.commandlog import CommandLog

__all__ = ["CommandFailed", "CommandTimeout", "Connection", "RunResult", "open_connection"]


def open_connection(target: Target, inventory: Inventory | None = None, log_dir: Path | None = None) -> Connection:
    """A connection object for `target` (not yet connected: SSH connects on first use or connect()).

    A jump host named in the inventory gets its own connection, which this one tunnels through.
    """
    if target.transport == "local":
        from harness.transport.local import LocalConnection

        return LocalConnection(target, log=CommandLog(log_dir))
    from harness.transport.ssh import SSHConnection

    jump = None
    if target.jump:
        if inventory is None:
            raise ValueError(f"target {target.name!r} uses jump host {target.jump!r}: pass the inventory")
        jump = open_connection(inventory.get(target.jump), inventory, None)
    return SSHConnection(target, jump=jump, log=CommandLog(log_dir))  # type: ignore[arg-type]
