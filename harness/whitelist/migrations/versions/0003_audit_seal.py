"""The audit log's seal (xch 0.3): a keyed MAC per audit row, and the chain head in each certificate.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

Only columns are added here. Sealing itself (the first `audit.seal` row, which pins every earlier row
by count and last hash, and the key file outside the database) needs the key, so `db.upgrade` does it
in the same transaction right after this revision runs (see harness/whitelist/seal.py). Certificates
issued before carry no checkpoint (NULL); their `certificate.issue` records are still cross-checked.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("mac", sa.String(64), nullable=True))
    op.add_column("certificates", sa.Column("audit_row", BigId, nullable=True))
    op.add_column("certificates", sa.Column("audit_hash", sa.String(64), nullable=True))


def downgrade() -> None:
    # plain DROP COLUMN (SQLite >= 3.35): a batch rebuild of audit_log would lose its append-only triggers
    op.drop_column("certificates", "audit_hash")
    op.drop_column("certificates", "audit_row")
    op.drop_column("audit_log", "mac")
