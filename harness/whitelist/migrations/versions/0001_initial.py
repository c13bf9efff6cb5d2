"""Initial whitelist schema (xch 0.1): products, platforms, runs, check results and plain entries.

Revision ID: 0001
Revises:
Create Date: 2026-11-21

Tables are spelled out here (not imported from schema.py) so this revision keeps producing the
schema that version shipped, whatever schema.py becomes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = 20
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "vendors",
        sa.Column("id", sa.Integer),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.String(TS), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_vendors"),
        sa.UniqueConstraint("name", name="uq_vendors_name"),
    )
    op.create_table(
        "products",
        sa.Column("id", sa.Integer),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("vendor_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("created_at", sa.String(TS), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_products"),
        sa.UniqueConstraint("key", name="uq_products_key"),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendors.id"], name="fk_products_vendor_id_vendors"),
    )
    op.create_table(
        "product_versions",
        sa.Column("id", sa.Integer),
        sa.Column("product_id", sa.Integer, nullable=False),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("contact", sa.String(300), nullable=False, server_default=""),
        sa.Column("created_at", sa.String(TS), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_product_versions"),
        sa.UniqueConstraint("product_id", "version", name="uq_product_versions_product_id_version"),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name="fk_product_versions_product_id_products"),
    )
    op.create_table(
        "declared_platforms",
        sa.Column("id", sa.Integer),
        sa.Column("product_version_id", sa.Integer, nullable=False),
        sa.Column("arch", sa.String(40), nullable=False),
        sa.Column("os_id", sa.String(80), nullable=False),
        sa.Column("os_version", sa.String(80), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_declared_platforms"),
        sa.UniqueConstraint("product_version_id", "arch", "os_id", "os_version",
                            name="uq_declared_platforms_product_version_id_arch_os_id_os_version"),
        sa.ForeignKeyConstraint(["product_version_id"], ["product_versions.id"],
                                name="fk_declared_platforms_product_version_id_product_versions"),
    )
    op.create_table(
        "platforms",
        sa.Column("id", sa.Integer),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("arch", sa.String(40), nullable=False),
        sa.Column("cpu_vendor", sa.String(80), nullable=False, server_default=""),
        sa.Column("cpu_family", sa.String(80), nullable=False, server_default=""),
        sa.Column("cpu_model", sa.String(200), nullable=False, server_default=""),
        sa.Column("os_id", sa.String(80), nullable=False),
        sa.Column("os_name", sa.String(200), nullable=False, server_default=""),
        sa.Column("os_version", sa.String(80), nullable=False),
        sa.Column("kernel", sa.String(120), nullable=False, server_default=""),
        sa.Column("glibc", sa.String(40), nullable=False, server_default=""),
        sa.Column("accelerator", sa.String(200), nullable=False, server_default=""),
        sa.Column("emulation", sa.String(40), nullable=False, server_default=""),
        sa.Column("declared_only", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.PrimaryKeyConstraint("id", name="pk_platforms"),
        sa.UniqueConstraint("fingerprint", name="uq_platforms_fingerprint"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer),
        sa.Column("run_uid", sa.String(200), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("manifest", sa.Text, nullable=False),
        sa.Column("suite", sa.String(200), nullable=False, server_default=""),
        sa.Column("lab", sa.String(200), nullable=False, server_default=""),
        sa.Column("organisation", sa.String(300), nullable=False, server_default=""),
        sa.Column("harness_version", sa.String(40), nullable=False, server_default=""),
        sa.Column("controller", sa.String(200), nullable=False, server_default=""),
        sa.Column("started_at", sa.String(TS), nullable=False),
        sa.Column("ended_at", sa.String(TS), nullable=False),
        sa.Column("imported_at", sa.String(TS), nullable=False),
        sa.Column("imported_by", sa.String(120), nullable=False, server_default=""),
        sa.Column("source_path", sa.Text, nullable=False),
        sa.Column("product_version_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.UniqueConstraint("digest", name="uq_runs_digest"),
        sa.ForeignKeyConstraint(["product_version_id"], ["product_versions.id"],
                                name="fk_runs_product_version_id_product_versions"),
    )
    op.create_index("ix_runs_product_version_id", "runs", ["product_version_id"])
    op.create_table(
        "run_targets",
        sa.Column("id", sa.Integer),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("platform_id", sa.Integer, nullable=False),
        sa.Column("facts", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_run_targets"),
        sa.UniqueConstraint("run_id", "target", name="uq_run_targets_run_id_target"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_targets_run_id_runs"),
        sa.ForeignKeyConstraint(["platform_id"], ["platforms.id"], name="fk_run_targets_platform_id_platforms"),
    )
    op.create_table(
        "check_results",
        sa.Column("id", BigId),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("run_target_id", sa.Integer, nullable=False),
        sa.Column("check_id", sa.String(200), nullable=False),
        sa.Column("test_id", sa.Text, nullable=False, server_default=""),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("duration_s", sa.Float, nullable=True),
        sa.Column("started_at", sa.String(TS), nullable=False, server_default=""),
        sa.Column("evidence", sa.Text, nullable=False, server_default="{}"),
        sa.PrimaryKeyConstraint("id", name="pk_check_results"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_check_results_run_id_runs"),
        sa.ForeignKeyConstraint(["run_target_id"], ["run_targets.id"], name="fk_check_results_run_target_id_run_targets"),
    )
    op.create_index("ix_check_results_run_id", "check_results", ["run_id"])
    op.create_index("ix_check_results_check_id", "check_results", ["check_id"])
    op.create_table(
        "entries",
        sa.Column("id", sa.Integer),
        sa.Column("product_version_id", sa.Integer, nullable=False),
        sa.Column("platform_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reasons", sa.Text, nullable=False, server_default="[]"),
        sa.Column("run_id", sa.Integer, nullable=True),
        sa.Column("targets", sa.Text, nullable=False, server_default=""),
        sa.Column("test_organisation", sa.String(300), nullable=False, server_default=""),
        sa.Column("tested_at", sa.String(TS), nullable=False, server_default=""),
        sa.Column("current", sa.Boolean, nullable=False),
        sa.Column("superseded_by_id", sa.Integer, nullable=True),
        sa.Column("created_at", sa.String(TS), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_entries"),
        sa.UniqueConstraint("product_version_id", "platform_id", "run_id",
                            name="uq_entries_product_version_id_platform_id_run_id"),
        sa.ForeignKeyConstraint(["product_version_id"], ["product_versions.id"],
                                name="fk_entries_product_version_id_product_versions"),
        sa.ForeignKeyConstraint(["platform_id"], ["platforms.id"], name="fk_entries_platform_id_platforms"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_entries_run_id_runs"),
        sa.ForeignKeyConstraint(["superseded_by_id"], ["entries.id"], name="fk_entries_superseded_by_id_entries"),
    )
    op.create_index("uq_entries_current", "entries", ["product_version_id", "platform_id"], unique=True,
                    sqlite_where=sa.text("current"), postgresql_where=sa.text("current"))


def downgrade() -> None:
    for table in ("entries", "check_results", "run_targets", "runs", "platforms", "declared_platforms",
                  "product_versions", "products", "vendors"):
        op.drop_table(table)
