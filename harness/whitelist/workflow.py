"""Certification workflow: submitted -> testing -> review -> certified | rejected; stages; certificates.

Every transition runs inside the caller's write transaction and is written to the audit log with who
and when. Certifying needs approvals from `approvals_required` (>= 2) *different* reviewers: the
programme's two-person rule for sensitive actions; by default the submitter cannot be one of them.
"Different" is decided on the canonical form of the names (`identity`: NFKC, case folded, invisible
characters removed), so `bob`, `BOB` and `bob` + U+200B are one reviewer.
A certificate fixes the SM3 digest of every evidence file (the run folders its entries were compiled
from), re-read from disk at issue time and checked against the digests recorded at import.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from harness.core.errors import InputError
from harness.whitelist import audit, identity
from harness.whitelist.policy import Policy
from harness.whitelist.runfolder import canonical, sm3
from harness.whitelist.schema import approvals, certificates, entries, product_versions, products, runs, submissions

STATES = ("submitted", "testing", "review", "certified", "rejected")
TRANSITIONS = {"testing": ("submitted",), "review": ("testing",), "rejected": ("submitted", "testing", "review")}


class TwoPersonRuleError(InputError):
    """Refused by the two-person rule (exit code 2, like other refused input)."""


def acting_person(by: str | None) -> str:
    """The acting person's name as given (--by, else $XCH_USER or the login name); refused when it names nobody."""
    if by is None:
        return identity.display_name(audit.default_actor(), "$XCH_USER (or the login name)")
    return identity.display_name(by)


def product_version_id(conn: Connection, product: str, version: str) -> int:
    pv = conn.execute(select(product_versions.c.id).join(products, products.c.id == product_versions.c.product_id)
                      .where(products.c.key == product, product_versions.c.version == version)).scalar()
    if pv is None:
        raise InputError(f"--product {product!r} --version {version!r}: no such product version in the whitelist "
                         "(compile a run of it, or import a list that has it)")
    return pv


def _submission(conn: Connection, sub_id: int) -> dict[str, Any]:
    row = conn.execute(select(submissions).where(submissions.c.id == sub_id)).mappings().first()
    if row is None:
        raise InputError(f"submission {sub_id}: no such submission")
    return dict(row)


def _move(conn: Connection, sub: dict[str, Any], to: str, actor: str, details: dict[str, Any] | None = None) -> None:
    allowed = TRANSITIONS.get(to, ("review",))
    if sub["state"] not in allowed:
        raise InputError(f"submission {sub['id']} is {sub['state']!r}; it can move to {to!r} only from "
                         f"{' or '.join(map(repr, allowed))}")
    t = audit.now()
    conn.execute(update(submissions).where(submissions.c.id == sub["id"]).values(state=to, updated_at=t))
    audit.record(conn, actor, f"submission.{to}", "submission", sub["id"],
                 {"from": sub["state"], "to": to, **(details or {})}, at=t)


def submit(conn: Connection, product: str, version: str, by: str | None, note: str = "") -> int:
    actor = acting_person(by)
    pv = product_version_id(conn, product, version)
    t = audit.now()
    sub_id = conn.execute(insert(submissions).values(product_version_id=pv, state="submitted", submitted_by=actor,
                                                     submitted_at=t, updated_at=t, note=note)).inserted_primary_key[0]
    audit.record(conn, actor, "submission.submitted", "submission", sub_id,
                 {"product": product, "version": version, "note": note}, at=t)
    return sub_id


def start_testing(conn: Connection, sub_id: int, by: str | None) -> None:
    _move(conn, _submission(conn, sub_id), "testing", acting_person(by))


def to_review(conn: Connection, sub_id: int, by: str | None) -> None:
    sub = _submission(conn, sub_id)
    tested = conn.execute(select(func.count()).select_from(entries).where(
        entries.c.product_version_id == sub["product_version_id"], entries.c.current,
        entries.c.kind == "tested")).scalar()
    if not tested:
        raise InputError(f"submission {sub_id}: no tested results yet; compile a run of this product version first")
    _move(conn, sub, "review", acting_person(by))


def approve(conn: Connection, sub_id: int, by: str | None, policy: Policy, comment: str = "") -> int:
    """Record one reviewer's approval; returns how many different reviewers have approved."""
    actor = acting_person(by)
    sub = _submission(conn, sub_id)
    if sub["state"] != "review":
        raise InputError(f"submission {sub_id} is {sub['state']!r}; approvals are given in state 'review'")
    if identity.same_person(actor, sub["submitted_by"]) and not policy.submitter_may_review:
        raise TwoPersonRuleError(f"two-person rule: {actor!r} is {sub['submitted_by']!r}, who submitted submission "
                                 f"{sub_id}, and cannot also review it")
    earlier = _review_by(conn, sub_id, actor)
    if earlier is not None:
        raise TwoPersonRuleError(f"two-person rule: {actor!r} is {earlier['reviewer']!r}, who has already reviewed "
                                 f"submission {sub_id} ({earlier['decision']}); the next approval must come from a "
                                 "different reviewer")
    t = audit.now()
    conn.execute(insert(approvals).values(submission_id=sub_id, reviewer=actor, decision="approve", comment=comment, at=t))
    audit.record(conn, actor, "submission.approve", "submission", sub_id, {"comment": comment}, at=t)
    return len(_approvers(conn, sub_id))


def _review_by(conn: Connection, sub_id: int, person: str) -> dict[str, Any] | None:
    """The review of this submission already given by `person` under any spelling of their name."""
    for row in conn.execute(select(approvals).where(approvals.c.submission_id == sub_id)
                            .order_by(approvals.c.id)).mappings():
        if identity.same_person(row["reviewer"], person):
            return dict(row)
    return None


def _approvers(conn: Connection, sub_id: int) -> list[str]:
    """Approving reviewers, one name per person (the first spelling), sorted."""
    people: dict[str, str] = {}
    for name in conn.execute(select(approvals.c.reviewer).where(approvals.c.submission_id == sub_id,
                                                                approvals.c.decision == "approve")
                             .order_by(approvals.c.id)).scalars():
        people.setdefault(identity.canonical(name), name)
    return sorted(people.values())


def reject(conn: Connection, sub_id: int, by: str | None, reason: str) -> None:
    actor = acting_person(by)
    if not reason.strip():
        raise InputError("--reason: say why the submission is rejected (it is written to the audit log)")
    sub = _submission(conn, sub_id)
    if sub["state"] == "review":
        earlier = _review_by(conn, sub_id, actor)
        if earlier is None:
            conn.execute(insert(approvals).values(submission_id=sub_id, reviewer=actor, decision="reject",
                                                  comment=reason, at=audit.now()))
        else:  # a reviewer who approved may still reject; their one review becomes the rejection
            conn.execute(update(approvals).where(approvals.c.id == earlier["id"]).values(
                decision="reject", comment=reason, at=audit.now()))
    _move(conn, sub, "rejected", actor, {"reason": reason})


def evidence_manifest(conn: Connection, run_ids: list[int]) -> dict[str, str]:
    """{absolute file path: SM3} of the runs' folders, re-read now and checked against the import record."""
    manifest: dict[str, str] = {}
    for run in conn.execute(select(runs).where(runs.c.id.in_(run_ids)).order_by(runs.c.id)).mappings():
        recorded = json.loads(run["manifest"])
        root = Path(run["source_path"])
        for rel, digest in sorted(recorded.items()):
            path = root / rel
            try:
                now = sm3(path.read_bytes())
            except OSError as exc:
                raise InputError(f"evidence {path}: cannot read it ({exc.strerror}); it was imported with run "
                                 f"{run['run_uid']} and must stay in place to be certified") from None
            if now != digest:
                raise InputError(f"evidence {path}: changed since run {run['run_uid']} was imported "
                                 f"(SM3 {now} != {digest}); compile the run again before certifying")
            manifest[str(path)] = now
    return manifest


def issue_certificates(conn: Connection, sub_id: int, by: str | None, policy: Policy,
                       years: int | None = None) -> list[dict[str, Any]]:
    actor = acting_person(by)
    sub = _submission(conn, sub_id)
    if sub["state"] != "review":
        raise InputError(f"submission {sub_id} is {sub['state']!r}; certificates are issued from state 'review'")
    approvers = _approvers(conn, sub_id)
    if len(approvers) < policy.approvals_required:
        raise TwoPersonRuleError(
            f"two-person rule: submission {sub_id} needs approvals from {policy.approvals_required} different "
            f"reviewers, it has {len(approvers)}" + (f" ({', '.join(approvers)})" if approvers else ""))
    rows = conn.execute(select(entries).where(entries.c.product_version_id == sub["product_version_id"],
                                              entries.c.current, entries.c.kind.in_(("tested", "covered")),
                                              entries.c.status.in_(("compatible", "conditional")))).mappings().all()
    if not rows:
        raise InputError(f"submission {sub_id}: no compatible or conditional results to certify; reject it instead")
    t = audit.now()
    checkpoint = audit.head(conn) or {"audit_row": None, "audit_hash": None}  # the chain as the approvals left it
    years = policy.validity_years if years is None else years
    expires = f"{int(t[:4]) + years}{t[4:]}" if t[5:10] != "02-29" else f"{int(t[:4]) + years}-03-01{t[10:]}"
    issued = []
    for entry in rows:
        run_id = entry["run_id"]
        if run_id is None and entry["covered_by_id"] is not None:
            run_id = conn.execute(select(entries.c.run_id).where(entries.c.id == entry["covered_by_id"])).scalar()
        manifest = evidence_manifest(conn, [run_id] if run_id is not None else [])
        text = canonical(manifest)
        cert_id = conn.execute(insert(certificates).values(
            cert_no=f"pending-{sub_id}-{entry['id']}", submission_id=sub_id, entry_id=entry["id"],
            product_version_id=entry["product_version_id"], platform_id=entry["platform_id"], status=entry["status"],
            level=entry["level"] or "compatible", issued_at=t, expires_at=expires, issued_by=actor,
            approvers=canonical(approvers), evidence_manifest=text, evidence_sm3=sm3(text.encode("utf-8")),
            **checkpoint)).inserted_primary_key[0]
        cert_no = f"{policy.certificate_prefix}-{t[:4]}-{cert_id:06d}"
        conn.execute(update(certificates).where(certificates.c.id == cert_id).values(cert_no=cert_no))
        fixed = {"entry": entry["id"], "submission": sub_id, "approvers": approvers, "expires_at": expires,
                 "evidence_sm3": sm3(text.encode("utf-8")), "files": len(manifest), "status": entry["status"],
                 "level": entry["level"] or "compatible", "product_version": entry["product_version_id"],
                 "platform": entry["platform_id"], **checkpoint}
        audit.record(conn, actor, "certificate.issue", "certificate", cert_no, fixed, at=t)
        issued.append({"certificate": cert_no, "entry": entry["id"], "status": entry["status"],
                       "level": entry["level"], "issued_at": t, "expires_at": expires,
                       "evidence_sm3": sm3(text.encode("utf-8")), "files": len(manifest), **checkpoint})
    conn.execute(update(submissions).where(submissions.c.id == sub_id).values(state="certified", updated_at=t))
    audit.record(conn, actor, "submission.certified", "submission", sub_id,
                 {"from": "review", "to": "certified", "certificates": [c["certificate"] for c in issued]}, at=t)
    return issued


def promote(conn: Connection, entry_id: int, to: str | None, by: str | None, policy: Policy, note: str = "") -> str:
    """Advance a current entry one stage (lab -> pilot -> rollout)."""
    actor = acting_person(by)
    entry = conn.execute(select(entries).where(entries.c.id == entry_id)).mappings().first()
    if entry is None:
        raise InputError(f"entry {entry_id}: no such whitelist entry")
    if not entry["current"]:
        raise InputError(f"entry {entry_id} is history (superseded by entry {entry['superseded_by_id']}); "
                         "promote the current one")
    if entry["status"] not in policy.stage_statuses:
        raise InputError(f"entry {entry_id} is {entry['status']}; only {', '.join(policy.stage_statuses)} entries "
                         "can be promoted")
    stages = policy.stages
    position = stages.index(entry["stage"]) if entry["stage"] in stages else 0
    if position + 1 >= len(stages):
        raise InputError(f"entry {entry_id} is already at the last stage ({entry['stage']})")
    wanted = to or stages[position + 1]
    if wanted not in stages:
        raise InputError(f"--to {wanted!r}: expected one of {', '.join(stages)}")
    if stages.index(wanted) != position + 1:
        raise InputError(f"entry {entry_id} is at {entry['stage']!r}; stages advance one at a time "
                         f"({' -> '.join(stages)}), next is {stages[position + 1]!r}")
    if wanted == stages[-1] and policy.rollout_requires_certificate:
        t = audit.now()
        valid = conn.execute(select(certificates.c.cert_no).where(
            certificates.c.product_version_id == entry["product_version_id"],
            certificates.c.platform_id == entry["platform_id"], certificates.c.revoked_at.is_(None),
            certificates.c.expires_at > t)).first()
        if valid is None:
            raise InputError(f"entry {entry_id}: {wanted} needs a valid certificate (policy "
                             "[stages] rollout_requires_certificate); certify the product version first")
    conn.execute(update(entries).where(entries.c.id == entry_id).values(stage=wanted))
    audit.record(conn, actor, "entry.promote", "entry", entry_id, {"from": entry["stage"], "to": wanted, "note": note})
    return wanted


def list_submissions(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(submissions, products.c.key.label("product"), product_versions.c.version)
                        .join(product_versions, product_versions.c.id == submissions.c.product_version_id)
                        .join(products, products.c.id == product_versions.c.product_id)
                        .order_by(submissions.c.id)).mappings().all()
    return [{**dict(r), "approvers": _approvers(conn, r["id"])} for r in rows]


def list_certificates(conn: Connection) -> list[dict[str, Any]]:
    return [{k: v for k, v in dict(r).items() if k != "evidence_manifest"}
            for r in conn.execute(select(certificates).order_by(certificates.c.id)).mappings()]
