"""campaigns: waitlists, referral programmes, surveys, social proof

Revision ID: 0006_campaigns
Revises: 0005_webhooks
Create Date: 2026-12-06 16:30:00

Survey answers are events in the lake; the catalog keeps the campaigns, the waitlist signups,
the referral codes and attributions, and a keyed hash of who answered a one-response survey.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_campaigns"
down_revision = "0005_webhooks"
branch_labels = None
depends_on = None


def _campaign_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["campaign_id"],
        ["campaigns.id"],
        name=op.f(f"fk_{table}_campaign_id_campaigns"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_campaigns_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("project_id", "key", name="uq_campaigns_project_key"),
    )
    op.create_table(
        "campaign_signups",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("campaign_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_key", sa.String(length=320), nullable=False),
        sa.Column("referral_code", sa.String(length=32), nullable=False),
        sa.Column("referred_by", sa.String(length=40), nullable=True),
        sa.Column("referrals", sa.Integer(), nullable=False),
        sa.Column("link_base", sa.String(length=2000), nullable=True),
        sa.Column("invited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _campaign_fk("campaign_signups"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_signups")),
        sa.UniqueConstraint("campaign_id", "email_key", name="uq_campaign_signups_email"),
        sa.UniqueConstraint("campaign_id", "referral_code", name="uq_campaign_signups_code"),
        sa.UniqueConstraint("campaign_id", "seq", name="uq_campaign_signups_seq"),
    )
    op.create_table(
        "campaign_referrers",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("campaign_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("display_name", sa.String(length=64), nullable=True),
        sa.Column("link_base", sa.String(length=2000), nullable=True),
        sa.Column("referrals", sa.Integer(), nullable=False),
        sa.Column("conversions", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _campaign_fk("campaign_referrers"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_referrers")),
        sa.UniqueConstraint("campaign_id", "user_id", name="uq_campaign_referrers_user"),
        sa.UniqueConstraint("campaign_id", "code", name="uq_campaign_referrers_code"),
    )
    op.create_table(
        "campaign_attributions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("campaign_id", sa.String(length=40), nullable=False),
        sa.Column("referrer_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _campaign_fk("campaign_attributions"),
        sa.ForeignKeyConstraint(
            ["referrer_id"],
            ["campaign_referrers.id"],
            name=op.f("fk_campaign_attributions_referrer_id_campaign_referrers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_attributions")),
        sa.UniqueConstraint("campaign_id", "user_id", "kind", name="uq_campaign_attributions_user"),
    )
    op.create_table(
        "campaign_respondents",
        sa.Column("campaign_id", sa.String(length=40), nullable=False),
        sa.Column("actor_hash", sa.String(length=64), nullable=False),
        sa.Column("response_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _campaign_fk("campaign_respondents"),
        sa.PrimaryKeyConstraint("campaign_id", "actor_hash", name=op.f("pk_campaign_respondents")),
    )
    indexes = {
        "campaigns": ("ix_campaigns_project", ["project_id", "id"]),
        "campaign_signups": ("ix_campaign_signups_campaign", ["campaign_id", "id"]),
        "campaign_referrers": ("ix_campaign_referrers_campaign", ["campaign_id", "id"]),
        "campaign_attributions": ("ix_campaign_attributions_referrer", ["referrer_id", "id"]),
    }
    for table, (name, columns) in indexes.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    for table, name in (
        ("campaign_attributions", "ix_campaign_attributions_referrer"),
        ("campaign_referrers", "ix_campaign_referrers_campaign"),
        ("campaign_signups", "ix_campaign_signups_campaign"),
        ("campaigns", "ix_campaigns_project"),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
    for table in (
        "campaign_respondents",
        "campaign_attributions",
        "campaign_referrers",
        "campaign_signups",
        "campaigns",
    ):
        op.drop_table(table)
