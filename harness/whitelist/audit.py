"""The append-only audit log: who did what, when, chained by SM3 and sealed with a key kept outside the database.

The database refuses UPDATE and DELETE on audit_log (triggers from migration 0002); the SM3 chain
(`hash` = SM3(previous hash + canonical row)) shows a row changed without recomputing the rest; the
seal (`mac`, see `seal.py`) shows what a trigger-dropping, hash-recomputing database writer did, and the
head file shows rows removed from the end. Every row is written inside the caller's write transaction
(which holds the write lock), so the chain has no forks. `Database.write()` hands this module the
database's `Sealer` (connection info "xch_sealer") and advances the head file after the commit.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import time
from typing import Any

from sqlalchemy import Connection, func, insert, select

from harness.core.errors import InputError
from harness.whitelist import identity
from harness.whitelist.runfolder import canonical, sm3
from harness.whitelist.schema import audit_log, entries
from harness.whitelist.seal import GENESIS, KEY_ENV, AuditKey, Head, Sealer, read_head

SEAL_ACTION = "audit.seal"
SEALED_FROM = "0003"  # the schema revision that added audit_log.mac


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def default_actor() -> str:
    """Who is acting when no --by was given: $XCH_USER, else the login name."""
    try:
        return os.environ.get("XCH_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def row_hash(prev: str, row: Any) -> str:
    """The unkeyed chain link: SM3(previous hash + the row's canonical content)."""
    body = {k: row[k] for k in ("at", "actor", "action", "object_type", "object_id", "details")}
    return sm3((prev + canonical(body)).encode("utf-8"))


def _sealer(conn: Connection) -> Sealer:
    sealer = conn.info.get("xch_sealer")
    if sealer is None:
        raise RuntimeError("audit rows are written inside Database.write(), which provides the seal")
    return sealer


def seal_row(conn: Connection) -> dict[str, Any] | None:
    """The `audit.seal` row that starts the keyed chain, or None."""
    row = conn.execute(select(audit_log).where(audit_log.c.action == SEAL_ACTION, audit_log.c.mac.is_not(None))
                       .order_by(audit_log.c.id).limit(1)).mappings().first()
    return dict(row) if row else None


def head(conn: Connection) -> dict[str, Any] | None:
    """The newest row as a checkpoint {audit_row, audit_hash}: what certificates and exports carry."""
    row = conn.execute(select(audit_log.c.id, audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1)).first()
    return {"audit_row": row.id, "audit_hash": row.hash} if row else None


def _chain_key(conn: Connection, sealer: Sealer) -> tuple[str, AuditKey]:
    """This database's chain id and its key, checked once per process: a wrong key is refused, not used."""
    key = sealer.key()
    if sealer.chain is None:
        seal = seal_row(conn)
        if seal is None:
            raise InputError("the audit log has no seal row (audit.seal): it was removed, or this database was not "
                             "upgraded by xch; run `xch whitelist verify`")
        details = json.loads(seal["details"])
        if details.get("key_id") != key.key_id:
            raise InputError(f"{key.path}: this key (id {key.key_id}) is not the one that sealed this database's "
                             f"audit log (id {details.get('key_id')}); point {KEY_ENV} at the right "
                             "key file")
        sealer.chain = str(details["chain"])
    return sealer.chain, key


def _append(conn: Connection, key: AuditKey, chain: str, row: dict[str, Any], first_of_chain: bool = False) -> None:
    last = conn.execute(select(audit_log.c.hash, audit_log.c.mac).order_by(audit_log.c.id.desc()).limit(1)).first()
    prev = last.hash if last is not None else GENESIS
    prev_mac = GENESIS if first_of_chain or last is None or last.mac is None else last.mac
    link = row_hash(prev, row)
    mac = key.mac(prev_mac, link)
    row_id = conn.execute(insert(audit_log).values(**row, prev_hash=prev, hash=link, mac=mac)).inserted_primary_key[0]
    conn.info["xch_audit_head"] = Head(chain, row_id, link, mac)


def record(conn: Connection, actor: str, action: str, object_type: str, object_id: Any,
           details: dict[str, Any] | None = None, at: str | None = None) -> None:
    sealer = _sealer(conn)
    chain, key = _chain_key(conn, sealer)
    _append(conn, key, chain, {"at": at or now(), "actor": actor, "action": action, "object_type": object_type,
                               "object_id": str(object_id), "details": canonical(details or {})})


def seal(conn: Connection, new_database: bool) -> None:
    """Start the keyed chain: called once, when a database reaches schema 0003 (new, or upgraded).

    An upgraded database's earlier rows are pinned by count and last hash. A head file that already
    exists for this key means the key sealed a chain before: for a new database (the old one was
    deleted) that is recorded; for an upgrade it is refused, because a sealed log does not become
    unsealed by itself (someone removed its seal and set the schema back to make xch seal it afresh).
    """
    sealer = _sealer(conn)
    key = sealer.key_or_new()
    old = None
    if sealer.head_path.exists():
        old = read_head(sealer.head_path)
        if not new_database:
            raise InputError(f"{sealer.head_path}: this key already sealed an audit chain ({old.chain if old else '?'}, "
                             f"row {old.row if old else '?'}), but this database's log has no seal: it was removed and "
                             "the schema set back. Run `xch whitelist verify`; if this really is another database, "
                             f"give it its own key ({KEY_ENV})")
    count, last_hash = conn.execute(select(func.count(), func.max(audit_log.c.id)).select_from(audit_log)).one()
    if last_hash is not None:
        last_hash = conn.execute(select(audit_log.c.hash).where(audit_log.c.id == last_hash)).scalar()
    chain = secrets.token_hex(8)
    entries_before = conn.execute(select(func.max(entries.c.id))).scalar() or 0  # older ones may have no record
    details = {"chain": chain, "key_id": key.key_id, "sealed_rows": count, "sealed_head": last_hash or GENESIS,
               "entries_before": entries_before, "replaces": old.as_dict() if old else None}
    sealer.chain = chain
    try:
        actor = identity.display_name(default_actor())
    except InputError:
        actor = "xch"
    _append(conn, key, chain, {"at": now(), "actor": actor, "action": SEAL_ACTION,
                               "object_type": "audit", "object_id": chain, "details": canonical(details)},
            first_of_chain=True)


def verify_chain(conn: Connection) -> list[str]:
    """Problems of the unkeyed chain, walking from the first row (empty list: intact)."""
    problems = []
    prev = GENESIS
    for row in conn.execute(select(audit_log).order_by(audit_log.c.id)).mappings():
        if row["prev_hash"] != prev:
            problems.append(f"audit_log row {row['id']}: chain broken (a row before it was removed or changed)")
        if row_hash(row["prev_hash"], dict(row)) != row["hash"]:
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
