"""What the management API answers, as typed models.

Each model holds the fields the API documents; fields a newer server adds are kept too
(``extra="allow"``), so an older client neither fails on them nor loses them. Secrets (a new
key, a token, a webhook's signing secret) are left out of ``repr``, so logging a model does not
log them.

Examples
--------
>>> token = TokenCreated.model_validate({
...     "id": "key_1", "project_id": "proj_1", "name": "ci", "prefix": "aat_Ab1...",
...     "scopes": ["query"], "created_at": "2026-01-02T03:04:05Z", "expires_at": None,
...     "revoked_at": None, "status": "active", "token": "aat_secret"})
>>> token.scopes, token.created_at.year, "aat_secret" in repr(token)
(['query'], 2026, False)
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import polars as pl


class Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


# ---- organisations and projects -------------------------------------------------------------


class Org(Model):
    id: str
    name: str
    plan: str
    created_at: datetime


class AdminKeyRotated(Model):
    org_id: str
    admin_key: str = Field(repr=False)
    revoked: int


class Project(Model):
    id: str
    org_id: str
    name: str
    plan: str
    retention_days: int | None = None
    timezone: str
    allowed_origins: list[str] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


class ProjectCreated(Project):
    public_key: str
    secret_key: str = Field(repr=False)


class ProjectDeleted(Model):
    id: str
    deleted: bool
    lake: dict[str, Any] = Field(default_factory=dict)


class SecretKeyRotated(Model):
    project_id: str
    secret_key: str = Field(repr=False)
    revoked: int


class Token(Model):
    id: str
    project_id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    status: str


class TokenCreated(Token):
    token: str = Field(repr=False)


class AuditEntry(Model):
    id: str
    action: str
    actor: str
    org_id: str | None = None
    project_id: str | None = None
    target: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    request_id: str | None = None
    created_at: datetime


# ---- derived data ---------------------------------------------------------------------------


class Segment(Model):
    id: str
    project_id: str
    name: str
    filter: str
    window_days: int
    description: str | None = None
    created_at: datetime
    updated_at: datetime


class SegmentDeleted(Segment):
    deleted: bool


class SegmentMember(Model):
    user_id: str
    computed_at: datetime


class UsageDay(Model):
    day: date
    events_ingested: int
    queries_run: int


class UsageTotals(Model):
    events_ingested: int
    queries_run: int


class Usage(Model):
    project_id: str
    start: date = Field(alias="from")
    end: date = Field(alias="to")
    data: list[UsageDay]
    totals: UsageTotals
    computed_at: datetime | None = None


class Device(Model):
    device_id: str
    identified_at: datetime | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None


class UserProfile(Model):
    project_id: str
    user_id: str
    properties: dict[str, Any] = Field(default_factory=dict)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    updated_at: datetime | None = None
    devices: list[Device] = Field(default_factory=list)


class GdprJob(Model):
    id: str
    project_id: str
    subject_hash: str
    status: str
    requested_by: str
    counts: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


# ---- experiments, features, webhooks --------------------------------------------------------


class Experiment(Model):
    id: str
    project_id: str
    key: str
    name: str | None = None
    variations: list[dict[str, Any]]
    weights: list[float] | None = None
    coverage: float
    targeting: dict[str, Any] = Field(default_factory=dict)
    status: str
    force: int | None = None
    winner: int | None = None
    hash_attribute: str
    seed: str | None = None
    hash_version: int
    namespace: dict[str, Any] | None = None
    phases: list[dict[str, Any]] = Field(default_factory=list)
    goal: str | None = None
    created_at: datetime
    updated_at: datetime


class ExperimentDeleted(Experiment):
    deleted: bool


class VariationResults(Model):
    """One variation's figures; comparisons are against the control (None for the control
    itself, and when a group has no users)."""

    variation: int
    key: str
    name: str | None = None
    users: int
    conversions: int
    rate: float | None = None
    rate_ci: tuple[float, float] | None = None
    absolute_uplift: float | None = None
    absolute_ci: tuple[float, float] | None = None
    relative_uplift: float | None = None
    relative_ci: tuple[float, float] | None = None
    z: float | None = None
    p_value: float | None = None
    chance_to_win: float | None = None
    expected_share: float
    exposures: int = 0
    disagreeing_exposures: int = 0


class SampleRatio(Model):
    statistic: float | None = None
    df: int
    p_value: float | None = None
    expected_users: list[float]
    mismatch: bool
    threshold: float


class ExperimentResults(Model):
    """An experiment's results (docs/experiments.md): per variation, the sample-ratio check,
    the exposures read and the assignment replay per source."""

    experiment: str
    goal: str
    start: datetime
    end: datetime
    computed_at: datetime
    lake_version: int | None = None
    confidence: float
    variations: list[VariationResults]
    srm: SampleRatio
    exposures: dict[str, Any] = Field(default_factory=dict)
    replay: dict[str, Any] = Field(default_factory=dict)
    stored: bool = False


class Feature(Model):
    id: str
    project_id: str
    key: str
    description: str | None = None
    value_type: str
    default_value: Any = None
    enabled: bool
    rules: list[dict[str, Any]] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


class FeatureDeleted(Feature):
    deleted: bool


class Webhook(Model):
    id: str
    project_id: str
    url: str
    description: str | None = None
    created_at: datetime


class WebhookCreated(Webhook):
    secret: str = Field(repr=False)


class WebhookDeleted(Webhook):
    deleted: bool


class WebhookTestQueued(Model):
    id: str
    event_type: str
    status: str
    attempts: int
    created_at: datetime


class WebhookAttempt(Model):
    id: str
    delivery_id: str
    event_type: str
    delivery_status: str
    attempt: int
    status_code: int | None = None
    error: str | None = None
    duration_ms: int
    next_attempt_at: datetime | None = None
    created_at: datetime


# ---- campaigns ---------------------------------------------------------------------------


class Campaign(Model):
    """A waitlist, referral programme, survey or social proof feed (docs/campaigns.md)."""

    id: str
    project_id: str
    key: str
    type: str
    name: str
    status: str
    config: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime


class CampaignDeleted(Campaign):
    deleted: bool


class Signup(Model):
    """One signup of a waitlist, with its current position."""

    id: str
    email: str
    position: int
    referral_code: str
    referred_by: str | None = None
    referrals: int
    invited_at: datetime | None = None
    created_at: datetime


class LeaderboardEntry(Model):
    rank: int
    name: str
    referrals: int
    conversions: int
    user_id: str | None = None
    signup_id: str | None = None


class Leaderboard(Model):
    entries: list[LeaderboardEntry]


# ---- queries ---------------------------------------------------------------------------------


class QueryResult(Model):
    """One answer of ``POST /v1/query``: rows as dicts, and the lake version they were read
    from (pass it as ``as_of`` to read the same data again)."""

    columns: list[str]
    rows: list[dict[str, Any]]
    row_count: int
    has_more: bool
    next_offset: int | None = None
    lake_version: int | None = None
    engine: str
    elapsed_ms: float
    range: dict[str, str] = Field(default_factory=dict)

    def to_polars(self) -> pl.DataFrame:
        """The rows as a Polars DataFrame, columns in the answer's order."""
        import polars as pl

        if not self.rows:
            return pl.DataFrame({name: [] for name in self.columns})
        return pl.DataFrame(self.rows, infer_schema_length=None).select(self.columns)
