"""GDPR deletion jobs

Revision ID: 0003_gdpr_jobs
Revises: 0002_segments
Create Date: 2026-11-23 10:00:00

A deletion job names its data subject by a keyed hash only (HMAC-SHA256 under the server
secret), never by the raw user id: the catalog keeps no identifier of a deleted person.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_gdpr_jobs"
down_revision = "0002_segments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gdpr_jobs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=True),
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("subject_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gdpr_jobs")),
    )
    with op.batch_alter_table("gdpr_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_gdpr_jobs_project", ["project_id", "id"], unique=False)
        batch_op.create_index("ix_gdpr_jobs_subject", ["project_id", "subject_hash"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("gdpr_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_gdpr_jobs_subject")
        batch_op.drop_index("ix_gdpr_jobs_project")
    op.drop_table("gdpr_jobs")
