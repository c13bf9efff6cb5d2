"""Certification workflow, metrics, levels/stages, result reuse and the append-only audit log (xch 0.2).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

Existing entries are kept: they start at stage `lab`, and those that were compatible or conditional
get level `compatible` (the validated level needs security checks they were never judged on).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = 20
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
APPEND_ONLY = "audit_log is append-only"


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.add_column("entries", sa.Column("level", sa.String(20), nullable=True))
    op.add_column("entries", sa.Column("stage", sa.String(20), nullable=False, server_default="lab"))
    op.add_column("entries", sa.Column("external", sa.Text, nullable=False, server_default="{}"))
    if sqlite:
        # SQLite adds a column with a REFERENCES clause in place; Alembic would rebuild the table instead.
        op.execute("ALTER TABLE entries ADD COLUMN covered_by_id INTEGER REFERENCES entries (id)")
    else:
        op.add_column("entries", sa.Column("covered_by_id", sa.Integer, nullable=True))
        op.create_foreign_key("fk_entries_covered_by_id_entries", "entries", "entries", ["covered_by_id"], ["id"])
    op.execute("UPDATE entries SET level = 'compatible' WHERE status IN ('compatible', 'conditional')")

    op.create_table(
        "metrics",
        sa.Column("id", BigId),
        sa.Column("check_result_id", BigId, nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("unit", sa.String(40), nullable=False, server_default=""),
        sa.Column("direction", sa.String(10), nullable=False, server_default=""),
        sa.Column("median", sa.Float, nullable=True),
        sa.Column("iqr", sa.Float, nullable=True),
        sa.Column("cv", sa.Float, nullable=True),
        sa.Column("samples", sa.Text, nullable=False, server_default="[]"),
        sa.Column("baseline", sa.Text, nullable=False, server_default="null"),
        sa.Column("verdict", sa.String(40), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id", name="pk_metrics"),
        sa.ForeignKeyConstraint(["check_result_id"], ["check_results.id"],
                                name="fk_metrics_check_result_id_check_results"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_metrics_run_id_runs"),
    )
    op.create_index("ix_metrics_run_id", "metrics", ["run_id"])
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer),
        sa.Column("product_version_id", sa.Integer, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("submitted_by", sa.String(120), nullable=False),
        sa.Column("submitted_at", sa.String(TS), nullable=False),
        sa.Column("updated_at", sa.String(TS), nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id", name="pk_submissions"),
        sa.ForeignKeyConstraint(["product_version_id"], ["product_versions.id"],
                                name="fk_submissions_product_version_id_product_versions"),
    )
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer),
        sa.Column("submission_id", sa.Integer, nullable=False),
        sa.Column("reviewer", sa.String(120), nullable=False),
        sa.Column("decision", sa.String(20), nullable=False),
        sa.Column("comment", sa.Text, nullable=False, server_default=""),
        sa.Column("at", sa.String(TS), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_approvals"),
        sa.UniqueConstraint("submission_id", "reviewer", name="uq_approvals_submission_id_reviewer"),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"], name="fk_approvals_submission_id_submissions"),
    )
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer),
        sa.Column("cert_no", sa.String(60), nullable=False),
        sa.Column("submission_id", sa.Integer, nullable=False),
        sa.Column("entry_id", sa.Integer, nullable=False),
        sa.Column("product_version_id", sa.Integer, nullable=False),
        sa.Column("platform_id", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("issued_at", sa.String(TS), nullable=False),
        sa.Column("expires_at", sa.String(TS), nullable=False),
        sa.Column("issued_by", sa.String(120), nullable=False),
        sa.Column("approvers", sa.Text, nullable=False),
        sa.Column("evidence_manifest", sa.Text, nullable=False),
        sa.Column("evidence_sm3", sa.String(64), nullable=False),
        sa.Column("revoked_at", sa.String(TS), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_certificates"),
        sa.UniqueConstraint("cert_no", name="uq_certificates_cert_no"),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"], name="fk_certificates_submission_id_submissions"),
        sa.ForeignKeyConstraint(["entry_id"], ["entries.id"], name="fk_certificates_entry_id_entries"),
        sa.ForeignKeyConstraint(["product_version_id"], ["product_versions.id"],
                                name="fk_certificates_product_version_id_product_versions"),
        sa.ForeignKeyConstraint(["platform_id"], ["platforms.id"], name="fk_certificates_platform_id_platforms"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", BigId),
        sa.Column("at", sa.String(TS), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("object_type", sa.String(40), nullable=False),
        sa.Column("object_id", sa.String(60), nullable=False),
        sa.Column("details", sa.Text, nullable=False, server_default="{}"),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    # Append-only is enforced by the database itself, not only by xch's code.
    if sqlite:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log "
                       f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END")
    else:
        op.execute("CREATE FUNCTION xch_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
                   f"$$ BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$")
        op.execute("CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
                   "FOR EACH ROW EXECUTE FUNCTION xch_audit_append_only()")
        op.execute("CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
                   "FOR EACH STATEMENT EXECUTE FUNCTION xch_audit_append_only()")


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS xch_audit_append_only()")
    for table in ("audit_log", "certificates", "approvals", "submissions", "metrics"):
        op.drop_table(table)
    with op.batch_alter_table("entries") as batch:
        for column in ("covered_by_id", "external", "stage", "level"):
            batch.drop_column(column)
