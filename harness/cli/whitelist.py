"""`xch whitelist ...`: compile runs into the product-adaptation whitelist (信创产品白名单), query, certify.

The database comes from --db URL, else $XCH_DB_URL, else the SQLite file whitelist/whitelist.db.
Exit codes: 0 ok; 1 verify found altered evidence; 2 bad input or a refused action (two-person rule,
wrong state); 3 the database cannot be reached.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness.cli.util import emit, json_option, table
from harness.core.errors import EXIT_CHECKS_FAILED, EXIT_OK, InputError

STATUSES = ("compatible", "conditional", "incompatible", "pending")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="URL", help="database URL (default: $XCH_DB_URL or sqlite whitelist/whitelist.db)")
    parser.add_argument("--policy", metavar="FILE", help="policy file (default: whitelist/policy.toml)")


def _by(parser: argparse.ArgumentParser, required: bool = False) -> None:
    parser.add_argument("--by", metavar="NAME", required=required,
                        help="who is acting (audit log); default $XCH_USER or the login name")


def _open(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from harness.whitelist import db

    return db.connect(args.db)


def _policy(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from harness.whitelist.policy import load_policy

    return load_policy(Path(args.policy) if getattr(args, "policy", None) else None)


def _actor(args: argparse.Namespace) -> str:
    from harness.whitelist.workflow import acting_person

    return acting_person(getattr(args, "by", None))


# -- compile ---------------------------------------------------------------------------------------

def cmd_compile(args: argparse.Namespace) -> int:
    from harness.whitelist.compile import compile_runs

    policy = _policy(args)
    database = _open(args)
    try:
        results = compile_runs(database, [Path(p) for p in args.run_dirs], policy, _actor(args), lab=args.lab)
    finally:
        database.dispose()
    data = [r.as_dict() for r in results]

    def human() -> str:
        lines = []
        for r in results:
            lines.append(f"{r.run_uid}: {r.message}  ({r.path})")
            for e in r.entries:
                state = "" if e["current"] else "  [history: a newer run is current]"
                lines.append(f"  entry #{e['entry']} {e['targets']}: {e['status']}"
                             + (f" ({e['level']})" if e["level"] else "") + state)
                lines += [f"    - {reason}" for reason in e["reasons"]]
        return "\n".join(lines)

    emit(args, data, human)
    return EXIT_OK


# -- query / export --------------------------------------------------------------------------------

def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--product", help="product id or name (substring, any case)")
    parser.add_argument("--vendor", help="vendor name (substring)")
    parser.add_argument("--category", help="category, e.g. database")
    parser.add_argument("--arch", help="aarch64, x86_64, loongarch64, ...")
    parser.add_argument("--cpu", help="CPU vendor, family or model (substring), e.g. Kunpeng")
    parser.add_argument("--os", help="OS id or name (substring), e.g. openEuler")
    parser.add_argument("--status", choices=STATUSES)
    parser.add_argument("--stage", help="lab, pilot or rollout")
    parser.add_argument("--all", action="store_true", help="include superseded entries (history)")


def _rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    return _rows_and_checkpoint(args)[0]


def _rows_and_checkpoint(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The filtered rows and the audit chain's head, read in one transaction (the head the rows came from)."""
    from harness.whitelist.audit import head
    from harness.whitelist.query import Filters, entry_rows

    database = _open(args)
    try:
        with database.read() as conn:
            rows = entry_rows(conn, Filters(product=args.product, vendor=args.vendor, category=args.category,
                                            arch=args.arch, cpu=args.cpu, os=args.os, status=args.status,
                                            stage=args.stage, include_history=args.all))
            return rows, head(conn)
    finally:
        database.dispose()


def cmd_query(args: argparse.Namespace) -> int:
    rows = _rows(args)
    if args.csv:
        from harness.whitelist.exchange import render

        sys.stdout.write(render(rows, "csv").decode("utf-8-sig"))
        return EXIT_OK

    def human() -> str:
        if not rows:
            return "no entries"
        flat = [{**r, "covered_by": f"#{r['covered_by']['entry']}" if r["covered_by"] else "",
                 "level": r["level"] or "", "certificate": r["certificate"] or "",
                 "os": f"{r['os']} {r['os_version']}", "current": "" if r["current"] else "history"} for r in rows]
        return table(flat, ["id", "product", "version", "vendor", "category", "arch", "cpu", "os", "status", "level",
                            "stage", "covered_by", "certificate"] + (["current"] if args.all else []))

    emit(args, rows, human)
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from harness.whitelist.exchange import render, write_export

    if args.format == "xlsx" and not args.out:
        raise InputError("--format xlsx needs --out FILE (a spreadsheet is not written to a terminal)")
    rows, checkpoint = _rows_and_checkpoint(args)
    where = ""
    if args.out:
        out, kept = write_export(rows, args.format, Path(args.out), checkpoint)
        print(f"wrote {len(rows)} entries to {out}", file=sys.stderr)
        where = f" (kept in {kept})"
    else:
        sys.stdout.write(render(rows, args.format).decode("utf-8-sig"))
    if checkpoint:
        print(f"audit checkpoint / 审计检查点: row {checkpoint['audit_row']} hash {checkpoint['audit_hash']}{where}; "
              "`xch whitelist verify --checkpoint FILE` shows whether the log still has it", file=sys.stderr)
    return EXIT_OK


def cmd_import_list(args: argparse.Namespace) -> int:
    from harness.whitelist.exchange import import_list, read_list

    path = Path(args.file).resolve()
    rows = read_list(path)
    database = _open(args)
    try:
        with database.write() as conn:
            counts = import_list(conn, path, rows, _actor(args))
    finally:
        database.dispose()
    emit(args, {"file": str(path), "rows": len(rows), **counts},
         lambda: f"{path.name}: {len(rows)} rows: {counts['added']} added, {counts['superseded']} updated, "
                 f"{counts['unchanged']} unchanged (external entries)")
    return EXIT_OK


# -- workflow ---------------------------------------------------------------------------------------

def _write(args: argparse.Namespace, action: Any) -> Any:
    database = _open(args)
    try:
        with database.write() as conn:
            return action(conn)
    finally:
        database.dispose()


def cmd_promote(args: argparse.Namespace) -> int:
    from harness.whitelist.workflow import promote

    policy = _policy(args)
    stage = _write(args, lambda conn: promote(conn, args.entry, args.to, args.by, policy, args.note or ""))
    emit(args, {"entry": args.entry, "stage": stage}, lambda: f"entry #{args.entry} promoted to {stage}")
    return EXIT_OK


def cmd_submit(args: argparse.Namespace) -> int:
    from harness.whitelist.workflow import submit

    sub = _write(args, lambda conn: submit(conn, args.product, args.version, args.by, args.note or ""))
    emit(args, {"submission": sub, "state": "submitted"}, lambda: f"submission {sub}: submitted")
    return EXIT_OK


def _transition(name: str):  # type: ignore[no-untyped-def]
    def command(args: argparse.Namespace) -> int:
        from harness.whitelist import workflow

        policy = _policy(args)
        if name == "testing":
            _write(args, lambda conn: workflow.start_testing(conn, args.submission, args.by))
            state = "testing"
        elif name == "review":
            _write(args, lambda conn: workflow.to_review(conn, args.submission, args.by))
            state = "review"
        elif name == "approve":
            count = _write(args, lambda conn: workflow.approve(conn, args.submission, args.by, policy,
                                                               args.comment or ""))
            state = f"review ({count} of {policy.approvals_required} approvals)"
        else:
            _write(args, lambda conn: workflow.reject(conn, args.submission, args.by, args.reason))
            state = "rejected"
        emit(args, {"submission": args.submission, "state": state}, lambda: f"submission {args.submission}: {state}")
        return EXIT_OK

    return command


def cmd_cert_issue(args: argparse.Namespace) -> int:
    from harness.whitelist.workflow import issue_certificates

    policy = _policy(args)
    issued = _write(args, lambda conn: issue_certificates(conn, args.submission, args.by, policy, args.years))

    def human() -> str:
        text = table(issued, ["certificate", "entry", "status", "level", "issued_at", "expires_at", "files",
                              "evidence_sm3"])
        if issued and issued[0].get("audit_row") is not None:
            text += (f"\naudit checkpoint / 审计检查点: row {issued[0]['audit_row']} hash {issued[0]['audit_hash']} "
                     "(give it to the holder with the certificate; `xch whitelist verify --checkpoint` checks it)")
        return text

    emit(args, issued, human)
    return EXIT_OK


def cmd_cert_list(args: argparse.Namespace) -> int:
    from harness.whitelist.workflow import list_certificates

    database = _open(args)
    try:
        with database.read() as conn:
            rows = list_certificates(conn)
    finally:
        database.dispose()
    emit(args, rows, lambda: table(rows, ["cert_no", "entry_id", "status", "level", "issued_at", "expires_at",
                                          "issued_by", "approvers", "revoked_at"]) if rows else "no certificates")
    return EXIT_OK


def cmd_submissions(args: argparse.Namespace) -> int:
    from harness.whitelist.workflow import list_submissions

    database = _open(args)
    try:
        with database.read() as conn:
            rows = list_submissions(conn)
    finally:
        database.dispose()
    emit(args, rows, lambda: table([{**r, "approvers": ",".join(r["approvers"])} for r in rows],
                                   ["id", "product", "version", "state", "submitted_by", "submitted_at", "approvers"])
         if rows else "no submissions")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from harness.whitelist.verify import load_anchor, read_checkpoints, verify

    checkpoints = [cp for path in args.checkpoint or [] for cp in read_checkpoints(Path(path))]
    database = _open(args)
    try:
        anchor = load_anchor(database.sealer.key_path)  # before the snapshot: a write in between is no false alarm
        with database.read() as conn:
            report = verify(conn, anchor, include_runs=args.runs, checkpoints=checkpoints)
    finally:
        database.dispose()

    def human() -> str:
        audit = report["audit"]
        head = (f"checked {report['certificates']} certificate(s), {report['runs']} run(s)"
                + (" with their files" if args.runs else "") + f", the audit log ({audit['rows']} rows"
                + (f", sealed with key {audit['key_id']}" if audit["sealed"] else "") + ")"
                + (f" and {report['checkpoints']} checkpoint(s)" if report["checkpoints"] else "") + ": ")
        lines = [head + ("all evidence intact / 证据完整" if report["ok"] else
                         f"{len(report['problems'])} problem(s) / 发现证据被篡改或缺失")]
        for p in report["problems"]:
            who = (p.get("certificate") or (f"run {p['run']}" if p.get("run") else None)
                   or ("checkpoint" if p.get("checkpoint") else "audit log"))
            lines.append(f"  {who}: " + " ".join(x for x in (p["file"], p["problem"]) if x))
        lines += [f"  note: {n}" for n in report["notes"]]
        return "\n".join(lines)

    emit(args, report, human)
    return EXIT_OK if report["ok"] else EXIT_CHECKS_FAILED


def cmd_audit(args: argparse.Namespace) -> int:
    from harness.whitelist.audit import history

    database = _open(args)
    try:
        with database.read() as conn:
            rows = history(conn, args.type, args.object)
    finally:
        database.dispose()
    emit(args, rows, lambda: table(rows, ["id", "at", "actor", "action", "object_type", "object_id", "details"]))
    return EXIT_OK


def cmd_upgrade(args: argparse.Namespace) -> int:
    from harness.whitelist import db

    database = db.connect(args.db, upgrade_schema=False)
    try:
        before, after = db.upgrade(database)
    finally:
        database.dispose()
    emit(args, {"db": database.safe_url(), "from": before, "to": after},
         lambda: f"{database.safe_url()}: schema {before or '(empty)'} -> {after}" if before != after
         else f"{database.safe_url()}: schema already at {after}")
    return EXIT_OK


# -- parser ----------------------------------------------------------------------------------------

def register(sub: Any) -> None:
    wl = sub.add_parser("whitelist", help="compile runs into the product whitelist (信创产品白名单); query, certify")
    wsub = wl.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)

    p = wsub.add_parser("compile", help="import run folders and derive whitelist entries")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--lab", help="lab name recorded as provenance (default: policy, else host name)")
    _common(p), _by(p), json_option(p), p.set_defaults(func=cmd_compile)

    p = wsub.add_parser("query", help="list whitelist entries")
    _filters(p), _common(p)
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON")
    fmt.add_argument("--csv", action="store_true", help="print CSV (export columns)")
    p.set_defaults(func=cmd_query)

    p = wsub.add_parser("export", help="write the list as xlsx, csv or json (public list columns)")
    p.add_argument("--format", required=True, choices=("xlsx", "csv", "json"))
    p.add_argument("--out", metavar="FILE", help="output file (default: stdout for csv/json)")
    _filters(p), _common(p), p.set_defaults(func=cmd_export)

    p = wsub.add_parser("import-list", help="load an existing list (CSV) as external entries; every cell is checked "
                        "first (category, date, arch, status, length limits) and one bad row refuses the whole file")
    p.add_argument("file", metavar="FILE.csv")
    _common(p), _by(p), json_option(p), p.set_defaults(func=cmd_import_list)

    p = wsub.add_parser("promote", help="advance an entry's stage: lab -> pilot -> rollout")
    p.add_argument("entry", type=int, metavar="ENTRY_ID")
    p.add_argument("--to", help="the next stage (default: the one after the current)")
    p.add_argument("--note", help="why (audit log)")
    _common(p), _by(p, required=True), json_option(p), p.set_defaults(func=cmd_promote)

    p = wsub.add_parser("submit", help="open a certification submission for a product version")
    p.add_argument("--product", required=True, help="product id (product.json id)")
    p.add_argument("--version", required=True)
    p.add_argument("--note")
    _common(p), _by(p, required=True), json_option(p), p.set_defaults(func=cmd_submit)

    for name, text in (("testing", "submission: submitted -> testing"), ("review", "submission: testing -> review"),
                       ("approve", "approve a submission under review (two different reviewers needed)"),
                       ("reject", "reject a submission")):
        p = wsub.add_parser(name, help=text)
        p.add_argument("submission", type=int, metavar="SUBMISSION_ID")
        if name == "approve":
            p.add_argument("--comment")
        if name == "reject":
            p.add_argument("--reason", required=True)
        _common(p), _by(p, required=True), json_option(p), p.set_defaults(func=_transition(name))

    p = wsub.add_parser("submissions", help="list submissions and their states")
    _common(p), json_option(p), p.set_defaults(func=cmd_submissions)

    cert = wsub.add_parser("certificate", help="issue and list certificates")
    csub = cert.add_subparsers(dest="certificate_command", metavar="SUBCOMMAND", required=True)
    p = csub.add_parser("issue", help="certify a reviewed submission (needs two different approvers)")
    p.add_argument("submission", type=int, metavar="SUBMISSION_ID")
    p.add_argument("--years", type=int, help="validity in years (default: policy, 3)")
    _common(p), _by(p, required=True), json_option(p), p.set_defaults(func=cmd_cert_issue)
    p = csub.add_parser("list", help="list certificates")
    _common(p), json_option(p), p.set_defaults(func=cmd_cert_list)

    p = wsub.add_parser("verify", help="recompute evidence digests (SM3); check certificates and runs against their "
                        "sealed audit records, and the audit log against its key, head file and checkpoints")
    p.add_argument("--runs", action="store_true", help="also re-hash every imported run folder's files")
    p.add_argument("--checkpoint", action="append", metavar="FILE",
                   help="an xlsx export, an export's .checkpoint.json, or `certificate issue --json` output: the audit "
                        "log must still hold the row it recorded (repeatable)")
    _common(p), json_option(p), p.set_defaults(func=cmd_verify)

    p = wsub.add_parser("audit", help="show the audit log")
    p.add_argument("--type", help="object type: run, entry, submission, certificate, product, list")
    p.add_argument("--object", help="object id")
    _common(p), json_option(p), p.set_defaults(func=cmd_audit)

    p = wsub.add_parser("upgrade", help="upgrade the database schema in place (also done on every open)")
    _common(p), json_option(p), p.set_defaults(func=cmd_upgrade)
