"""`whitelist verify`: what the whitelist promises, checked against what a database writer cannot rewrite.

A tamperer with write access to the database and the run folders can change any row and any file.
What they cannot change without the key (seal.py) is the sealed audit log, and what they cannot reach
at all are the key's head file and the checkpoints handed out with certificates and exports. So:

1. the audit log: its SM3 chain; the keyed seal (every MAC from the `audit.seal` row on, recomputed with
   the key file); the rows the seal pinned (count and last hash); the head file (rows removed from the end);
2. every certificate against its sealed `certificate.issue` record (evidence SM3, entry, approvers,
   expiry, status, level, checkpoint) and its evidence files re-hashed; a `certificate.issue` record
   whose certificate is gone; a revocation that no `certificate.revoke` record explains;
3. every run: `runs.manifest` against `runs.digest`, the digest against its sealed `run.import` record,
   and with `--runs` every file against the manifest; every entry's status and level against the sealed
   record that created it (an entry flipped to "compatible" in the database shows);
4. checkpoints: each certificate's `audit_row`/`audit_hash`, and those read from `--checkpoint FILE`
   (an xlsx export, an export's `.checkpoint.json`, or the JSON of `certificate issue`/`certificate list`):
   the log must still hold that row with that hash.

What the seal protects against and what it cannot (someone holding the key) is written in seal.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from harness.core.errors import InputError
from harness.whitelist import audit
from harness.whitelist.exchange import CHECKPOINT_SHEET
from harness.whitelist.runfolder import manifest_digest, sm3
from harness.whitelist.schema import audit_log, certificates, entries, runs
from harness.whitelist.seal import GENESIS, AuditKey, Head, head_path, load_key, read_head


@dataclass
class Anchor:
    """What lives outside the database, read *before* the database so a write in between is no false alarm."""

    key_path: Path
    key: AuditKey | None
    key_problem: str | None
    head: Head | None
    head_problem: str | None


def load_anchor(key_path: Path) -> Anchor:
    key = head = None
    key_problem = head_problem = None
    try:
        key = load_key(key_path)
        if key is None:
            key_problem = f"audit key {key_path} is missing: the keyed seal cannot be checked"
    except InputError as exc:
        key_problem = str(exc)
    try:
        head = read_head(head_path(key_path))
        if head is None:
            head_problem = (f"head file {head_path(key_path)} is missing: rows removed from the end of the log "
                            "cannot be detected")
    except InputError as exc:
        head_problem = str(exc)
    return Anchor(key_path, key, key_problem, head, head_problem)


@dataclass(frozen=True)
class Checkpoint:
    source: str
    row: int
    hash: str


def _checkpoint(source: str, data: Any) -> Checkpoint | None:
    if isinstance(data, dict) and "audit_row" in data and "audit_hash" in data:
        if data["audit_row"] is None:
            return None  # a certificate issued before checkpoints existed
        try:
            return Checkpoint(source, int(data["audit_row"]), str(data["audit_hash"]))
        except (TypeError, ValueError):
            pass
    raise InputError(f"{source}: expected a checkpoint {{\"audit_row\": N, \"audit_hash\": \"…\"}}")


def read_checkpoints(path: Path) -> list[Checkpoint]:
    """Checkpoints in an xlsx export, a .checkpoint.json, or certificate JSON; InputError naming the file."""
    try:
        if path.suffix.lower() == ".xlsx":
            from openpyxl import load_workbook

            book = load_workbook(path, read_only=True)
            if CHECKPOINT_SHEET not in book.sheetnames:
                raise InputError(f"{path}: no '{CHECKPOINT_SHEET}' sheet (not an xch export, or one made before "
                                 "exports carried checkpoints)")
            values = {str(r[0]): r[1] for r in book[CHECKPOINT_SHEET].iter_rows(values_only=True) if r and r[0]}
            found = [_checkpoint(str(path), values)]
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
            items = data if isinstance(data, list) else [data]
            found = [_checkpoint(f"{path} item {i + 1}" if isinstance(data, list) else str(path), item)
                     for i, item in enumerate(items)]
    except FileNotFoundError:
        raise InputError(f"--checkpoint {path}: no such file") from None
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"--checkpoint {path}: cannot read a checkpoint from it ({exc})") from None
    except Exception as exc:  # openpyxl raises zipfile/xml errors of many kinds for a file that is not xlsx
        if isinstance(exc, InputError):
            raise
        raise InputError(f"--checkpoint {path}: not a readable xlsx file ({type(exc).__name__})") from None
    return [c for c in found if c is not None]


class Report:
    def __init__(self) -> None:
        self.problems: list[dict[str, Any]] = []
        self.notes: list[str] = []

    def add(self, problem: str, **about: Any) -> None:
        self.problems.append({"file": None, **about, "problem": problem})


def _spans(ids: list[int]) -> str:
    """`5-9, 12` from row ids in log order (consecutive rows of the log make one span)."""
    spans: list[list[int]] = []
    for i in ids:
        if spans and i == spans[-1][1] + 1:
            spans[-1][1] = i
        else:
            spans.append([i, i])
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans[:20])
    return text + (f" and {len(spans) - 20} more" if len(spans) > 20 else "")


ENTRY_RECORDS = ("entry.create", "entry.supersede", "entry.history", "entry.covered", "entry.declared",
                 "entry.external")
KEPT_RECORDS = ("certificate.issue", "certificate.revoke", "run.import") + ENTRY_RECORDS


@dataclass
class LogScan:
    """What one streaming pass over the audit log keeps: never the whole log (it can hold millions of rows)."""

    rows: int = 0
    last: int | None = None
    wanted: dict[int, tuple[str, str | None]] = field(default_factory=dict)  # id -> (hash, mac) of checkpoint rows
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # action -> object id -> details
    seal_details: dict[str, Any] = field(default_factory=dict)

    def keep(self, row: Any) -> None:
        if row["action"] not in KEPT_RECORDS:
            return
        try:
            details = json.loads(row["details"])
        except ValueError:
            details = {}
        if row["action"] in ENTRY_RECORDS:  # one per entry: keep only what is compared
            details = {k: details[k] for k in ("status", "level") if k in details}
        self.records.setdefault(row["action"], {})[row["object_id"]] = {**details, "_row": row["id"],
                                                                        "_actor": row["actor"]}


def scan_audit_log(conn: Connection, anchor: Anchor, report: Report, wanted: set[int]) -> tuple[LogScan, dict]:
    """The chain, the seal, the pinned rows and the head file, in one pass; returns the scan and a summary."""
    by_kind: dict[str, list[int]] = {}

    def flag(kind: str, row_id: int) -> None:
        by_kind.setdefault(kind, []).append(row_id)

    scan = LogScan()
    key = anchor.key
    wanted = wanted | ({anchor.head.row} if anchor.head else set())
    prev = prev_mac = GENESIS
    pinned_rows, pinned_head = 0, GENESIS
    seal: dict[str, Any] | None = None
    mac_key: AuditKey | None = None
    query = select(audit_log).order_by(audit_log.c.id).execution_options(yield_per=2000)
    for row in conn.execute(query).mappings():
        scan.rows += 1
        scan.last = row["id"]
        link = audit.row_hash(row["prev_hash"], row)
        if row["prev_hash"] != prev:
            flag("chain broken: a row before it was removed or changed", row["id"])
        if link != row["hash"]:
            flag("contents changed after it was written", row["id"])
        prev = row["hash"]
        if row["id"] in wanted:
            scan.wanted[row["id"]] = (row["hash"], row["mac"])
        scan.keep(row)
        is_seal = row["action"] == audit.SEAL_ACTION and row["mac"] is not None
        if seal is None and not is_seal:
            pinned_rows, pinned_head = pinned_rows + 1, row["hash"]
            continue
        if seal is None:
            seal = dict(row)
            mac_key = _seal_opened(seal, scan, key, anchor, pinned_rows, pinned_head, report)
        elif is_seal:
            flag("a second audit.seal row: the log was re-sealed", row["id"])
        if mac_key is None:
            continue
        if row["mac"] is None:
            flag("not sealed (no MAC): written without xch's key, or its MAC was removed", row["id"])
        elif mac_key.mac(GENESIS if row["id"] == seal["id"] else prev_mac, link) != row["mac"]:
            flag("keyed seal does not match: changed, inserted, or a row before it removed, by someone without "
                 "the key", row["id"])
        prev_mac = row["mac"] or prev_mac
    if scan.rows and seal is None:
        report.add("the audit log has no seal row (audit.seal): it was removed, or rows were written without xch; "
                   "nothing in it can be trusted", audit_log=True)
    for kind, ids in by_kind.items():
        report.add(f"audit_log row(s) {_spans(ids)}: {kind}", audit_log=True)
    if scan.rows or anchor.head is not None:
        _check_head(scan, anchor, report)
    details = scan.seal_details
    summary = {"rows": scan.rows, "sealed": seal is not None, "key": str(anchor.key_path),
               "key_id": details.get("key_id"), "seal_row": seal["id"] if seal else None,
               "entries_before": details.get("entries_before"),
               "head": anchor.head.as_dict() if anchor.head else None}
    return scan, summary


def _seal_opened(seal: dict[str, Any], scan: LogScan, key: AuditKey | None, anchor: Anchor, pinned_rows: int,
                 pinned_head: str, report: Report) -> AuditKey | None:
    """Check the seal row against the rows before it and the key file; the key to check MACs with, or None."""
    try:
        scan.seal_details = details = json.loads(seal["details"])
    except ValueError:
        scan.seal_details = details = {}
    if pinned_rows != details.get("sealed_rows"):
        report.add(f"the seal (row {seal['id']}) pinned {details.get('sealed_rows')} earlier row(s), the log has "
                   f"{pinned_rows} before it: rows were added or removed", audit_log=True)
    elif pinned_head != details.get("sealed_head"):
        report.add(f"rows before the seal (row {seal['id']}) were rewritten: their last hash is not the one the seal "
                   "pinned", audit_log=True)
    if details.get("replaces"):
        old = details["replaces"]
        report.notes.append(f"this log's seal replaced an earlier chain of the same key ({old.get('chain')}, which "
                            f"had reached row {old.get('row')}): that database was deleted")
    if key is None:
        report.add(anchor.key_problem or "no audit key", audit_log=True)
        return None
    if key.key_id != details.get("key_id"):
        report.add(f"key file {anchor.key_path} (key id {key.key_id}) is not the key this log was sealed with (key id "
                   f"{details.get('key_id')}): the key file was replaced, or the wrong one is configured", audit_log=True)
        return None
    return key


def _check_head(scan: LogScan, anchor: Anchor, report: Report) -> None:
    head = anchor.head
    if head is None:
        report.add(anchor.head_problem or "no head file", audit_log=True)
        return
    if scan.seal_details and head.chain != scan.seal_details.get("chain"):
        report.add(f"head file {head_path(anchor.key_path)} belongs to another audit chain ({head.chain}, row "
                   f"{head.row}) than this log's ({scan.seal_details.get('chain')}): the log was replaced or re-sealed",
                   audit_log=True)
        return
    found = scan.wanted.get(head.row)
    if found is None:
        report.add(f"audit log truncated: the head file says row {head.row} was written, the log "
                   + (f"ends at row {scan.last}" if scan.last is not None else "is empty"), audit_log=True)
    elif found != (head.hash, head.mac):
        report.add(f"audit_log row {head.row} is not the row the head file recorded: rewritten", audit_log=True)


def check_checkpoint(scan: LogScan, cp: Checkpoint, report: Report, **about: Any) -> None:
    """The log must still hold the checkpoint's row with the checkpoint's hash."""
    found = scan.wanted.get(cp.row)
    if found is None:
        report.add(f"{cp.source} recorded audit row {cp.row}, which is gone (the log "
                   + (f"ends at row {scan.last}" if scan.last is not None else "is empty") + "): truncated", **about)
    elif found[0] != cp.hash:
        report.add(f"{cp.source} recorded audit row {cp.row} with hash {cp.hash}; the row now has {found[0]}: "
                   "the log was rewritten", **about)


# -- certificates and runs against their sealed records ---------------------------------------------

def _cert_fields(cert: dict[str, Any]) -> dict[str, Any]:
    """The certificate row in the shape of its certificate.issue record."""
    manifest = json.loads(cert["evidence_manifest"]) if cert["evidence_manifest"] else {}
    return {"entry": cert["entry_id"], "submission": cert["submission_id"], "approvers": json.loads(cert["approvers"]),
            "expires_at": cert["expires_at"], "evidence_sm3": cert["evidence_sm3"], "files": len(manifest),
            "status": cert["status"], "level": cert["level"], "product_version": cert["product_version_id"],
            "platform": cert["platform_id"], "audit_row": cert["audit_row"], "audit_hash": cert["audit_hash"],
            "_actor": cert["issued_by"]}


def check_certificates(conn: Connection, scan: LogScan, report: Report) -> int:
    issued = dict(scan.records.get("certificate.issue", {}))
    revoked = scan.records.get("certificate.revoke", {})
    checked = 0
    for cert in conn.execute(select(certificates).order_by(certificates.c.id)).mappings():
        checked += 1
        no = cert["cert_no"]
        text = cert["evidence_manifest"]
        if sm3(text.encode("utf-8")) != cert["evidence_sm3"]:
            report.add("evidence list in the database does not match the certificate's SM3 (database edited)",
                       certificate=no)
        record = issued.pop(no, None)
        if record is None:
            report.add("no certificate.issue record in the audit log: the certificate was added or renamed "
                       "outside xch", certificate=no)
        else:
            have = _cert_fields(cert)
            differs = sorted(k for k in have if k in record and record[k] != have[k])
            if differs:
                report.add(f"differs from its certificate.issue record (audit row {record['_row']}) in "
                           + ", ".join(f"{k} ({have[k]!r}, issued {record[k]!r})" for k in differs)
                           + ": the certificate row was rewritten", certificate=no)
        if cert["revoked_at"] is not None:
            if no not in revoked:
                report.add(f"marked revoked at {cert['revoked_at']} without a certificate.revoke record: hidden "
                           "from verification by a database edit", certificate=no)
            continue  # a revoked certificate's evidence no longer matters
        if cert["audit_row"] is not None:
            check_checkpoint(scan, Checkpoint("its checkpoint", int(cert["audit_row"]), str(cert["audit_hash"])),
                             report, certificate=no)
        for path, digest in sorted(json.loads(text).items()):
            try:
                now = sm3(Path(path).read_bytes())
            except OSError as exc:
                report.add(f"missing ({exc.strerror})", certificate=no, file=path)
                continue
            if now != digest:
                report.add(f"altered after certification: SM3 {now}, certified {digest}", certificate=no, file=path)
    for no, record in issued.items():
        report.add(f"issued (audit row {record['_row']}) but the certificate row is gone: deleted from the database",
                   certificate=no)
    return checked


def check_runs(conn: Connection, scan: LogScan, report: Report, read_files: bool) -> int:
    imported = dict(scan.records.get("run.import", {}))
    checked = 0
    for run in conn.execute(select(runs).order_by(runs.c.id)).mappings():
        checked += 1
        uid = run["run_uid"]
        try:
            manifest = json.loads(run["manifest"])
        except ValueError:
            report.add("runs.manifest is not valid JSON (database edited)", run=uid)
            continue
        if not isinstance(manifest, dict) or manifest_digest(manifest) != run["digest"]:
            report.add("runs.manifest does not match runs.digest: the list of files and their SM3 was rewritten",
                       run=uid)
        record = imported.pop(str(run["id"]), None)
        if record is None:
            report.add("no run.import record in the audit log: the run was added outside xch", run=uid)
        elif (record.get("digest"), record.get("run_id")) != (run["digest"], uid):
            report.add(f"differs from its run.import record (audit row {record['_row']}): digest "
                       f"{run['digest']}, imported {record.get('digest')}: the run's manifest and digest were "
                       "rewritten", run=uid)
        if not read_files or not isinstance(manifest, dict):
            continue
        root = Path(run["source_path"])
        for rel, digest in sorted(manifest.items()):
            try:
                now = sm3((root / rel).read_bytes())
            except OSError as exc:
                report.add(f"missing ({exc.strerror})", run=uid, file=str(root / rel))
                continue
            if now != digest:
                report.add(f"altered after import: SM3 {now}, imported {digest}", run=uid, file=str(root / rel))
    for run_id, record in imported.items():
        report.add(f"imported (audit row {record['_row']}) but the run row is gone: deleted from the database",
                   run=record.get("run_id") or run_id)
    return checked


def check_entries(conn: Connection, scan: LogScan, report: Report, entries_before: int | None) -> int:
    """Each entry's status (and level, where recorded) against the sealed record that created it.

    Entries older than the seal (`entries_before`) may predate the audit log and have no record; every
    later one must have one. Whether an entry is *current* is not re-derived here (see the report).
    """
    created: dict[str, dict[str, Any]] = {}
    for action in ENTRY_RECORDS:  # in log order per action; the newest record of an entry wins
        for object_id, record in scan.records.get(action, {}).items():
            if object_id not in created or created[object_id]["_row"] < record["_row"]:
                created[object_id] = record
    checked = 0
    for entry in conn.execute(select(entries.c.id, entries.c.status, entries.c.level).order_by(entries.c.id)):
        checked += 1
        record = created.get(str(entry.id))
        if record is None:
            if entries_before is not None and entry.id > entries_before:
                report.add(f"entry {entry.id} ({entry.status}) has no record in the audit log: added outside xch",
                           entry=entry.id)
            continue
        for key in ("status", "level"):
            if key in record and record[key] != getattr(entry, key):
                report.add(f"entry {entry.id}: {key} is {getattr(entry, key)!r}, its record (audit row "
                           f"{record['_row']}) says {record[key]!r}: the entry was edited", entry=entry.id)
    return checked


def verify(conn: Connection, anchor: Anchor, include_runs: bool = False,
           checkpoints: list[Checkpoint] | None = None) -> dict[str, Any]:
    """Every check above, in one read transaction; `ok` only when no problem was found."""
    report = Report()
    checkpoints = checkpoints or []
    cert_rows = {int(r) for r in conn.execute(select(certificates.c.audit_row)).scalars() if r is not None}
    scan, summary = scan_audit_log(conn, anchor, report, cert_rows | {cp.row for cp in checkpoints})
    certs = check_certificates(conn, scan, report)
    run_count = check_runs(conn, scan, report, include_runs)
    entry_count = check_entries(conn, scan, report, summary.get("entries_before"))
    for cp in checkpoints:
        check_checkpoint(scan, cp, report, checkpoint=cp.source)
    return {"certificates": certs, "runs": run_count, "entries": entry_count, "run_files_checked": include_runs,
            "audit": summary, "checkpoints": len(checkpoints), "ok": not report.problems,
            "problems": report.problems, "notes": report.notes}
