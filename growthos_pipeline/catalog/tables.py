"""The control-plane schema (SQLAlchemy Core). Alembic migrations in ``migrations/`` create it.

Secrets never appear here in the clear: keys and session tokens are stored as an HMAC-SHA256
under the server secret (``key_hash``), next to a short display prefix.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the catalog; use timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


def utcnow() -> datetime:
    return datetime.now(UTC)


orgs = Table(
    "orgs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("plan", String(16), nullable=False, default="free"),
    Column("created_at", UTCDateTime(), nullable=False),
)

projects = Table(
    "projects",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("org_id", String(40), ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("plan", String(16), nullable=False, default="free"),
    Column("retention_days", Integer, nullable=True),
    Column("timezone", String(64), nullable=False, default="UTC"),
    Column("allowed_origins", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("org_id", "name", name="uq_projects_org_id_name"),
)

#: Every credential: org admin keys (ak_), project public (pk_) and secret (sk_) keys, and
#: scoped access tokens (aat_).
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("org_id", String(40), ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    Column("project_id", String(40), ForeignKey("projects.id", ondelete="CASCADE"), nullable=True),
    Column("name", String(100), nullable=False),
    Column("display", String(24), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("scopes", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Index("ix_api_keys_project_kind", "project_id", "kind"),
    Index("ix_api_keys_org_kind", "org_id", "kind"),
)

users = Table(
    "users",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("provider", String(16), nullable=False),
    Column("provider_user_id", String(64), nullable=False),
    Column("login", String(100), nullable=False),
    Column("name", String(200), nullable=True),
    Column("email", String(320), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("provider", "provider_user_id", name="uq_users_provider_user"),
)

memberships = Table(
    "memberships",
    metadata,
    Column("org_id", String(40), ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", String(40), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(16), nullable=False, default="owner"),
    Column("created_at", UTCDateTime(), nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(40), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

#: Responses of management POSTs, replayed for a repeated Idempotency-Key. The body is
#: encrypted (AES-GCM) under a key derived from the server secret, the caller's credential and
#: the idempotency key, because it may hold a secret shown once.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("principal", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("response", LargeBinary, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("org_id", String(40), nullable=True),
    Column("project_id", String(40), nullable=True),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(128), nullable=True),
    Column("details", JSON, nullable=False),
    Column("request_id", String(128), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_audit_log_org", "org_id", "id"),
    Index("ix_audit_log_project", "project_id", "id"),
)

# ---- derived assets (migration 0002_segments) -------------------------------------------------

#: Segments: a named DSL filter; its members are computed into the lake's segment_members.
segments = Table(
    "segments",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("project_id", String(40), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("filter", String(2000), nullable=False),
    Column("window_days", Integer, nullable=False),
    Column("description", String(500), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_segments_project", "project_id", "id"),
)

#: Queries run per project and UTC day (the usage_daily asset reads it).
query_usage = Table(
    "query_usage",
    metadata,
    Column(
        "project_id", String(40), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("day", Date, primary_key=True),
    Column("queries", Integer, nullable=False),
)

# ---- GDPR (migration 0003_gdpr_jobs) ----------------------------------------------------------

#: Deletion jobs for a data subject. The subject is named by a keyed hash (HMAC-SHA256 under the
#: server secret) of the project and user id, never by the raw id. No foreign key to projects:
#: the record of a completed deletion outlives the project, as evidence for auditors.
gdpr_jobs = Table(
    "gdpr_jobs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("org_id", String(40), nullable=True),
    Column("project_id", String(40), nullable=False),
    Column("subject_hash", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("requested_by", String(64), nullable=False),
    Column("counts", JSON, nullable=False),
    Column("error", String(500), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("finished_at", UTCDateTime(), nullable=True),
    Index("ix_gdpr_jobs_project", "project_id", "id"),
    Index("ix_gdpr_jobs_subject", "project_id", "subject_hash"),
)

# ---- experiments and features (migration 0004_experiments) -----------------------------------

#: Experiments: the key and status as columns, the validated definition as JSON (``config``).
experiments = Table(
    "experiments",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("project_id", String(40), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(100), nullable=False),
    Column("status", String(16), nullable=False),
    Column("config", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("project_id", "key", name="uq_experiments_project_key"),
    Index("ix_experiments_project", "project_id", "id"),
)

#: Feature flags: the key as a column, the validated definition (rules and all) as JSON.
features = Table(
    "features",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("project_id", String(40), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(100), nullable=False),
    Column("config", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("project_id", "key", name="uq_features_project_key"),
    Index("ix_features_project", "project_id", "id"),
)

# ---- webhooks (migration 0005_webhooks) -------------------------------------------------------

#: Endpoints a project's experiment and feature changes are posted to. The signing secret is
#: stored encrypted (AES-GCM under a key derived from the server secret), never in the clear.
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("project_id", String(40), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("url", String(2000), nullable=False),
    Column("description", String(200), nullable=True),
    Column("secret_encrypted", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_webhook_endpoints_project", "project_id", "id"),
)

#: One message to one endpoint; ``body`` is the exact JSON signed and sent on every attempt.
#: Pending deliveries (``status`` pending, due at ``next_attempt_at``) survive a restart.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(40), primary_key=True),
    Column(
        "endpoint_id",
        String(40),
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("project_id", String(40), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
)

#: The delivery log: one row per attempt.
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column(
        "delivery_id",
        String(40),
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("endpoint_id", String(40), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", String(500), nullable=True),
    Column("duration_ms", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_webhook_attempts_endpoint", "endpoint_id", "id"),
)

# ---- campaigns (migration 0006_campaigns) -----------------------------------------------------

#: Growth campaigns of a project (waitlist, referral, survey, social proof): the key the public
#: endpoints name, the type, and the validated configuration as JSON.
campaigns = Table(
    "campaigns",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("project_id", String(40), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(64), nullable=False),
    Column("type", String(16), nullable=False),
    Column("name", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("config", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("project_id", "key", name="uq_campaigns_project_key"),
    Index("ix_campaigns_project", "project_id", "id"),
)

#: Waitlist signups: ``seq`` is the signup order (1, 2, ...) within the campaign, ``email_key``
#: the lower-cased normalized address that deduplicates, ``referrals`` the signups that came
#: with this signup's code.
campaign_signups = Table(
    "campaign_signups",
    metadata,
    Column("id", String(40), primary_key=True),
    Column(
        "campaign_id", String(40), ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    ),
    Column("seq", Integer, nullable=False),
    Column("email", String(320), nullable=False),
    Column("email_key", String(320), nullable=False),
    Column("referral_code", String(32), nullable=False),
    Column("referred_by", String(40), nullable=True),
    Column("referrals", Integer, nullable=False),
    Column("link_base", String(2000), nullable=True),
    Column("invited_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("campaign_id", "email_key", name="uq_campaign_signups_email"),
    UniqueConstraint("campaign_id", "referral_code", name="uq_campaign_signups_code"),
    UniqueConstraint("campaign_id", "seq", name="uq_campaign_signups_seq"),
    Index("ix_campaign_signups_campaign", "campaign_id", "id"),
)

#: Referral programme members: one code per (campaign, user), with their counters.
campaign_referrers = Table(
    "campaign_referrers",
    metadata,
    Column("id", String(40), primary_key=True),
    Column(
        "campaign_id", String(40), ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    ),
    Column("user_id", String(255), nullable=False),
    Column("code", String(32), nullable=False),
    Column("display_name", String(64), nullable=True),
    Column("link_base", String(2000), nullable=True),
    Column("referrals", Integer, nullable=False),
    Column("conversions", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("campaign_id", "user_id", name="uq_campaign_referrers_user"),
    UniqueConstraint("campaign_id", "code", name="uq_campaign_referrers_code"),
    Index("ix_campaign_referrers_campaign", "campaign_id", "id"),
)

#: Who referred whom: one row per (campaign, referred user, kind), so nothing counts twice.
campaign_attributions = Table(
    "campaign_attributions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column(
        "campaign_id", String(40), ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    ),
    Column(
        "referrer_id",
        String(40),
        ForeignKey("campaign_referrers.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("user_id", String(255), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("campaign_id", "user_id", "kind", name="uq_campaign_attributions_user"),
    Index("ix_campaign_attributions_referrer", "referrer_id", "id"),
)

#: Who answered a survey that takes one response per person: a keyed hash of the user or
#: device id (the answers themselves are events in the lake).
campaign_respondents = Table(
    "campaign_respondents",
    metadata,
    Column(
        "campaign_id",
        String(40),
        ForeignKey("campaigns.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("actor_hash", String(64), primary_key=True),
    Column("response_id", String(40), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)
