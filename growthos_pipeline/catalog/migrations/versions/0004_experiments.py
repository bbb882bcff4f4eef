"""experiments and feature flags

Revision ID: 0004_experiments
Revises: 0003_gdpr_jobs
Create Date: 2026-12-02 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_experiments"
down_revision = "0003_gdpr_jobs"
branch_labels = None
depends_on = None


def _create(name: str, *extra: sa.Column[object]) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        *extra,
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f(f"fk_{name}_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        sa.UniqueConstraint("project_id", "key", name=f"uq_{name}_project_key"),
    )
    with op.batch_alter_table(name, schema=None) as batch_op:
        batch_op.create_index(f"ix_{name}_project", ["project_id", "id"], unique=False)


def upgrade() -> None:
    _create("experiments", sa.Column("status", sa.String(length=16), nullable=False))
    _create("features")


def downgrade() -> None:
    for name in ("features", "experiments"):
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{name}_project")
        op.drop_table(name)
