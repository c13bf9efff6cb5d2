"""The whitelist database schema (SQLAlchemy Core), as of the newest migration.

Why Core and not the ORM: compiling is bulk work (a million check records in the benchmark), and
every write goes through a few explicit statements that read the same on SQLite and PostgreSQL.

Conventions that keep both databases alike:
- timestamps are ISO-8601 UTC strings (`2026-11-21T06:27:26Z`): sortable, no time-zone drift;
- JSON payloads (evidence, reasons, manifests) are canonical JSON text, so digests over them are stable;
- one *current* whitelist entry per product version x platform is enforced by a partial unique index.

`harness/whitelist/migrations/versions/` must produce exactly this schema; a unit test compares them.
"""

from __future__ import annotations

from sqlalchemy import (
                        BigInteger,
                        Boolean,
                        Column,
                        Float,
                        ForeignKey,
                        Index,
                        Integer,
                        MetaData,
                        String,
                        Table,
                        Text,
                        UniqueConstraint,
                        text,
)

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT for the big tables.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

TS = 20  # "2026-11-21T06:27:26Z"

vendors = Table(
    "vendors", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", String(TS), nullable=False),
)

products = Table(
    "products", metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(200), nullable=False, unique=True),  # product.json "id" (the submission folder name)
    Column("vendor_id", Integer, ForeignKey("vendors.id"), nullable=False),
    Column("name", String(300), nullable=False),
    Column("category", String(40), nullable=False),
    Column("created_at", String(TS), nullable=False),
)

product_versions = Table(
    "product_versions", metadata,
    Column("id", Integer, primary_key=True),
    Column("product_id", Integer, ForeignKey("products.id"), nullable=False),
    Column("version", String(100), nullable=False),
    Column("contact", String(300), nullable=False, server_default=""),
    Column("created_at", String(TS), nullable=False),
    UniqueConstraint("product_id", "version"),
)

declared_platforms = Table(
    "declared_platforms", metadata,
    Column("id", Integer, primary_key=True),
    Column("product_version_id", Integer, ForeignKey("product_versions.id"), nullable=False),
    Column("arch", String(40), nullable=False),
    Column("os_id", String(80), nullable=False),
    Column("os_version", String(80), nullable=False),
    UniqueConstraint("product_version_id", "arch", "os_id", "os_version"),
)

platforms = Table(
    "platforms", metadata,
    Column("id", Integer, primary_key=True),
    # SM3 over the identity columns below: lets get-or-create use one indexed lookup.
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("arch", String(40), nullable=False),
    Column("cpu_vendor", String(80), nullable=False, server_default=""),
    Column("cpu_family", String(80), nullable=False, server_default=""),
    Column("cpu_model", String(200), nullable=False, server_default=""),
    Column("os_id", String(80), nullable=False),
    Column("os_name", String(200), nullable=False, server_default=""),
    Column("os_version", String(80), nullable=False),
    Column("kernel", String(120), nullable=False, server_default=""),
    Column("glibc", String(40), nullable=False, server_default=""),
    Column("accelerator", String(200), nullable=False, server_default=""),
    Column("emulation", String(40), nullable=False, server_default=""),
    Column("declared_only", Boolean, nullable=False, server_default=text("false")),
)

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_uid", String(200), nullable=False),  # run.json run_id (a resumed run keeps it; its digest changes)
    Column("digest", String(64), nullable=False, unique=True),  # SM3 over the manifest of the run's files
    Column("manifest", Text, nullable=False),  # canonical JSON {relative path: sm3}
    Column("suite", String(200), nullable=False, server_default=""),
    Column("lab", String(200), nullable=False, server_default=""),
    Column("organisation", String(300), nullable=False, server_default=""),
    Column("harness_version", String(40), nullable=False, server_default=""),
    Column("controller", String(200), nullable=False, server_default=""),
    Column("started_at", String(TS), nullable=False),
    Column("ended_at", String(TS), nullable=False),
    Column("imported_at", String(TS), nullable=False),
    Column("imported_by", String(120), nullable=False, server_default=""),
    Column("source_path", Text, nullable=False),
    Column("product_version_id", Integer, ForeignKey("product_versions.id"), nullable=False),
    Index(None, "product_version_id"),
)

run_targets = Table(
    "run_targets", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("target", String(200), nullable=False),
    Column("platform_id", Integer, ForeignKey("platforms.id"), nullable=False),
    Column("facts", Text, nullable=False),
    UniqueConstraint("run_id", "target"),
)

check_results = Table(
    "check_results", metadata,
    Column("id", BigId, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("run_target_id", Integer, ForeignKey("run_targets.id"), nullable=False),
    Column("check_id", String(200), nullable=False),
    Column("test_id", Text, nullable=False, server_default=""),
    Column("level", String(20), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("duration_s", Float, nullable=True),
    Column("started_at", String(TS), nullable=False, server_default=""),
    Column("evidence", Text, nullable=False, server_default="{}"),
    Index(None, "run_id"),
    Index(None, "check_id"),
)

metrics = Table(
    "metrics", metadata,
    Column("id", BigId, primary_key=True),
    Column("check_result_id", BigId, ForeignKey("check_results.id"), nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("unit", String(40), nullable=False, server_default=""),
    Column("direction", String(10), nullable=False, server_default=""),
    Column("median", Float, nullable=True),
    Column("iqr", Float, nullable=True),
    Column("cv", Float, nullable=True),
    Column("samples", Text, nullable=False, server_default="[]"),
    Column("baseline", Text, nullable=False, server_default="null"),
    Column("verdict", String(40), nullable=False, server_default=""),
    Index(None, "run_id"),
)

entries = Table(
    "entries", metadata,
    Column("id", Integer, primary_key=True),
    Column("product_version_id", Integer, ForeignKey("product_versions.id"), nullable=False),
    Column("platform_id", Integer, ForeignKey("platforms.id"), nullable=False),
    # tested: from a run on this platform; covered: reused from another platform's entry (covered_by_id);
    # declared: declared in product.json, not yet tested; external: loaded from an existing list.
    Column("kind", String(20), nullable=False),
    Column("status", String(20), nullable=False),  # compatible | conditional | incompatible | pending
    Column("level", String(20), nullable=True),  # compatible | validated (only for compatible/conditional)
    Column("stage", String(20), nullable=False, server_default="lab"),  # lab | pilot | rollout
    Column("reasons", Text, nullable=False, server_default="[]"),  # conditions or failure reasons (JSON list)
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=True),
    Column("targets", Text, nullable=False, server_default=""),
    Column("covered_by_id", Integer, ForeignKey("entries.id"), nullable=True),
    Column("external", Text, nullable=False, server_default="{}"),  # fields of an imported list row
    Column("test_organisation", String(300), nullable=False, server_default=""),
    Column("tested_at", String(TS), nullable=False, server_default=""),
    Column("current", Boolean, nullable=False),
    Column("superseded_by_id", Integer, ForeignKey("entries.id"), nullable=True),
    Column("created_at", String(TS), nullable=False),
    UniqueConstraint("product_version_id", "platform_id", "run_id"),
    Index("uq_entries_current", "product_version_id", "platform_id", unique=True,
          sqlite_where=text("current"), postgresql_where=text("current")),
)

submissions = Table(
    "submissions", metadata,
    Column("id", Integer, primary_key=True),
    Column("product_version_id", Integer, ForeignKey("product_versions.id"), nullable=False),
    Column("state", String(20), nullable=False),  # submitted | testing | review | certified | rejected
    Column("submitted_by", String(120), nullable=False),
    Column("submitted_at", String(TS), nullable=False),
    Column("updated_at", String(TS), nullable=False),
    Column("note", Text, nullable=False, server_default=""),
)

approvals = Table(
    "approvals", metadata,
    Column("id", Integer, primary_key=True),
    Column("submission_id", Integer, ForeignKey("submissions.id"), nullable=False),
    Column("reviewer", String(120), nullable=False),
    Column("decision", String(20), nullable=False),  # approve | reject
    Column("comment", Text, nullable=False, server_default=""),
    Column("at", String(TS), nullable=False),
    UniqueConstraint("submission_id", "reviewer"),
)

certificates = Table(
    "certificates", metadata,
    Column("id", Integer, primary_key=True),
    Column("cert_no", String(60), nullable=False, unique=True),
    Column("submission_id", Integer, ForeignKey("submissions.id"), nullable=False),
    Column("entry_id", Integer, ForeignKey("entries.id"), nullable=False),
    Column("product_version_id", Integer, ForeignKey("product_versions.id"), nullable=False),
    Column("platform_id", Integer, ForeignKey("platforms.id"), nullable=False),
    Column("status", String(20), nullable=False),
    Column("level", String(20), nullable=False),
    Column("issued_at", String(TS), nullable=False),
    Column("expires_at", String(TS), nullable=False),
    Column("issued_by", String(120), nullable=False),
    Column("approvers", Text, nullable=False),  # JSON list of reviewer names
    Column("evidence_manifest", Text, nullable=False),  # canonical JSON {absolute path: sm3}
    Column("evidence_sm3", String(64), nullable=False),  # SM3 over evidence_manifest
    Column("revoked_at", String(TS), nullable=True),
    # the audit chain's head when it was issued (migration 0003): a checkpoint the certificate's holder keeps
    Column("audit_row", BigId, nullable=True),
    Column("audit_hash", String(64), nullable=True),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", BigId, primary_key=True),
    Column("at", String(TS), nullable=False),
    Column("actor", String(120), nullable=False),
    Column("action", String(60), nullable=False),
    Column("object_type", String(40), nullable=False),
    Column("object_id", String(60), nullable=False),
    Column("details", Text, nullable=False, server_default="{}"),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),  # SM3(prev_hash + canonical row): a chain verify can walk
    # HMAC-SM3(key, previous mac + hash) with the key outside the database (seal.py; migration 0003)
    Column("mac", String(64), nullable=True),
)
