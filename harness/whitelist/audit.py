"""The append-only audit log: who did what, when, chained by SM3 so a removed or edited row shows.

The database refuses UPDATE and DELETE on audit_log (triggers from migration 0002); the hash chain
catches what a trigger cannot, e.g. someone with owner rights dropping the trigger first. Every row is
written inside the caller's write transaction (which holds the write lock), so the chain has no forks.
"""

from __future__ import annotations

import getpass
import os
import time
from typing import Any

from sqlalchemy import Connection, insert, select

from harness.whitelist.runfolder import canonical, sm3
from harness.whitelist.schema import audit_log

GENESIS = "0" * 64


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def default_actor() -> str:
    """Who is acting when no --by was given: $XCH_USER, else the login name."""
    try:
        return os.environ.get("XCH_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _row_hash(prev: str, row: dict[str, Any]) -> str:
    body = {k: row[k] for k in ("at", "actor", "action", "object_type", "object_id", "details")}
    return sm3((prev + canonical(body)).encode("utf-8"))


def record(conn: Connection, actor: str, action: str, object_type: str, object_id: Any,
           details: dict[str, Any] | None = None, at: str | None = None) -> None:
    prev = conn.execute(select(audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1)).scalar() or GENESIS
    row = {"at": at or now(), "actor": actor, "action": action, "object_type": object_type,
           "object_id": str(object_id), "details": canonical(details or {})}
    conn.execute(insert(audit_log).values(**row, prev_hash=prev, hash=_row_hash(prev, row)))


def verify_chain(conn: Connection) -> list[str]:
    """Problems found walking the chain from the first row (empty list: intact)."""
    problems = []
    prev = GENESIS
    for row in conn.execute(select(audit_log).order_by(audit_log.c.id)).mappings():
        if row["prev_hash"] != prev:
            problems.append(f"audit_log row {row['id']}: chain broken (a row before it was removed or changed)")
        if _row_hash(row["prev_hash"], dict(row)) != row["hash"]:
            problems.append(f"audit_log row {row['id']}: contents changed after it was written")
        prev = row["hash"]
    return problems


def history(conn: Connection, object_type: str | None = None, object_id: Any = None) -> list[dict[str, Any]]:
    query = select(audit_log).order_by(audit_log.c.id)
    if object_type:
        query = query.where(audit_log.c.object_type == object_type)
    if object_id is not None:
        query = query.where(audit_log.c.object_id == str(object_id))
    return [dict(r) for r in conn.execute(query).mappings()]
