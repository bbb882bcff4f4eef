"""Typed settings, read from ``GROWTHOS_*`` environment variables (and a ``.env`` file).

Every part of the toolkit (API, CLI, Dagster, notebooks) reads the same :class:`Settings`.
Nothing here needs a server: the defaults keep everything in one data folder.

Examples
--------
>>> s = Settings(data_dir="/tmp/gos-example")
>>> s.catalog_url
'sqlite:////tmp/gos-example/catalog.db'
>>> s.limit_for("growth", "ingest")
500
"""

from __future__ import annotations

import functools
import os
import secrets
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from growthos_pipeline.errors import ConfigurationError

#: Features that a deployment can switch off; a switched-off feature answers 503 feature_disabled.
FEATURES = frozenset(
    {
        "ingest",
        "query",
        "gdpr_export",
        "gdpr_delete",
        "oauth_login",
        "tokens",
        "project_delete",
        "experiments",
        "campaigns",
    }
)

PLANS = ("free", "growth", "scale")
Plan = Literal["free", "growth", "scale"]
LimitCategory = Literal["ingest", "management"]


class PlanLimits(BaseModel):
    """Requests per rate-limit window for one plan tier."""

    ingest: int = Field(gt=0)
    management: int = Field(gt=0)


DEFAULT_PLAN_LIMITS: dict[str, PlanLimits] = {
    "free": PlanLimits(ingest=100, management=10),
    "growth": PlanLimits(ingest=500, management=50),
    "scale": PlanLimits(ingest=1000, management=100),
}


class Settings(BaseSettings):
    """Settings of one GrowthOS deployment."""

    model_config = SettingsConfigDict(
        env_prefix="GROWTHOS_", env_file=".env", extra="ignore", frozen=True
    )

    env: Literal["dev", "test", "production"] = "dev"
    data_dir: Path = Path("./growthos-data")
    database_url: str | None = None
    redis_url: str | None = None
    secret_key: SecretStr | None = None
    public_url: str = "http://127.0.0.1:8000"

    disabled_features: Annotated[frozenset[str], NoDecode] = frozenset()

    rate_limits_enabled: bool = True
    rate_limit_window_s: int = Field(default=1, ge=1, le=3600)
    plan_limits: dict[str, PlanLimits] = Field(default_factory=lambda: dict(DEFAULT_PLAN_LIMITS))
    #: Management limit for people signed in with a session cookie, per user and window.
    session_limit: int = Field(default=20, gt=0)

    #: API versions being retired: version -> sunset date. Before it: Deprecation and Sunset
    #: headers; from that date on: 410 version_gone.
    deprecated_versions: dict[str, date] = Field(default_factory=dict)
    deprecation_link: str = "https://growthos.dev/docs/api/versions"

    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    #: The time budget of one query (504 query_timeout after it).
    query_timeout_s: float = Field(default=20.0, gt=0)

    #: Ingest limits (see docs/ingest.md): a request body as sent and once decompressed, one
    #: event, the events in a batch, nesting of property objects, string lengths.
    ingest_max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    ingest_max_decompressed_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    ingest_max_event_bytes: int = Field(default=64 * 1024, ge=256)
    ingest_max_batch_events: int = Field(default=2000, ge=1)
    ingest_max_depth: int = Field(default=10, ge=1, le=64)
    ingest_max_string_chars: int = Field(default=8192, ge=16)
    ingest_max_id_chars: int = Field(default=1024, ge=16)
    #: How long a verified ingest key is trusted before it is looked up again.
    key_cache_ttl_s: float = Field(default=2.0, ge=0)

    #: The write-ahead log: segment size, how often the open segment is sealed for the flusher
    #: (bounds freshness), and the unflushed backlog above which ingest answers 503.
    wal_segment_bytes: int = Field(default=64 * 1024 * 1024, ge=4096)
    wal_seal_interval_s: float = Field(default=1.0, gt=0)
    #: How long the first record of a group commit on the event loop waits for others
    #: before the write and its sync (0: until the end of the loop's turn).
    wal_commit_delay_s: float = Field(default=0.002, ge=0, le=0.1)
    wal_max_backlog_bytes: int = Field(default=2 * 1024 * 1024 * 1024, ge=4096)
    #: Run the WAL flusher thread inside the API process. Off, sealed segments stay in the
    #: WAL until a process with it on adopts the slot once this one is gone (tests that drive
    #: the flusher themselves turn it off).
    flusher_enabled: bool = True
    #: Run the flusher's commits in a child process of each API process rather than in a
    #: thread beside the request handlers (measured: the thread costs the handlers CPU in
    #: turns of the GIL; docs/ingest.md).
    flusher_process: bool = True
    #: Lake maintenance (docs/dagster.md): data files removed from the Delta log are deleted
    #: after this many hours (readers of older snapshots fail after it); today's partition is
    #: compacted once no file was added to it for this many minutes.
    vacuum_retention_hours: int = Field(default=168, ge=0)
    compaction_quiet_minutes: float = Field(default=30.0, ge=0)
    request_timeout_s: float = Field(default=30.0, gt=0)
    #: Browser origins allowed (CORS) on the endpoints web pages call with a key: ingest and
    #: the public campaign endpoints (comma-separated; ``*``: any). A public key's own
    #: ``allowed_origins`` restricts it further.
    cors_allow_origins: Annotated[tuple[str, ...], NoDecode] = ("*",)
    #: Per-IP limits of the public campaign endpoints (docs/campaigns.md), on top of the public
    #: key's ingest limit: requests per ``campaign_ip_window_s`` seconds from one address, for
    #: reads (campaign, position, survey, leaderboard, feed) and for writes (signups, codes,
    #: attributions, responses).
    campaign_ip_read_limit: int = Field(default=120, ge=1)
    campaign_ip_write_limit: int = Field(default=20, ge=1)
    campaign_ip_window_s: int = Field(default=60, ge=1, le=86_400)
    #: FastAPI's OpenTelemetry spans and metrics (for a configured OpenTelemetry provider).
    #: Off by default: /metrics serves Prometheus metrics, and checking for a provider on
    #: every request costs the ingest hot path a few percent.
    otel_enabled: bool = False
    token_max_ttl_hours: int = Field(default=24 * 366, gt=0)
    idempotency_ttl_hours: int = Field(default=24, gt=0)
    session_ttl_hours: int = Field(default=24 * 14, gt=0)
    cookie_secure: bool | None = None

    #: Webhooks (docs/experiments.md): loopback, private, link-local and metadata addresses
    #: are refused unless allowed (development and tests only); failed deliveries are retried
    #: ``webhooks_max_attempts`` times in all, after base, 2 x base, 4 x base... seconds (with
    #: jitter, capped); the worker looks for due deliveries every ``webhooks_poll_interval_s``.
    webhooks_allow_private: bool = False
    webhooks_max_attempts: int = Field(default=5, ge=1, le=20)
    webhooks_backoff_base_s: float = Field(default=1.0, gt=0)
    webhooks_backoff_max_s: float = Field(default=3600.0, gt=0)
    webhooks_timeout_s: float = Field(default=5.0, gt=0, le=60)
    webhooks_poll_interval_s: float = Field(default=1.0, gt=0)
    webhooks_worker_enabled: bool = True
    #: Finished deliveries (and their log) are kept this many days, pending ones until done.
    webhooks_log_retention_days: int = Field(default=30, ge=1)
    #: Deliveries one worker posts at the same time (a slow endpoint holds up only its own).
    webhooks_concurrency: int = Field(default=4, ge=1, le=64)

    github_client_id: str | None = None
    github_client_secret: SecretStr | None = None
    github_authorize_url: str = "https://github.com/login/oauth/authorize"
    github_token_url: str = "https://github.com/login/oauth/access_token"
    github_api_url: str = "https://api.github.com"
    #: The callback URL registered with GitHub; by default derived from the request (set it
    #: when a proxy terminates TLS and the server cannot see the public address).
    github_callback_url: str | None = None

    @field_validator("disabled_features", mode="before")
    @classmethod
    def _split_features(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("disabled_features")
    @classmethod
    def _known_features(cls, value: frozenset[str]) -> frozenset[str]:
        unknown = sorted(value - FEATURES)
        if unknown:
            raise ValueError(f"unknown feature(s) {unknown}; known: {sorted(FEATURES)}")
        return value

    @field_validator("cors_allow_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("cors_allow_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = []
        for origin in value:
            origin = origin.strip().rstrip("/")
            scheme, _, host = origin.partition("://")
            if origin != "*" and (scheme not in ("http", "https") or not host or "/" in host):
                raise ValueError(
                    f"'{origin[:80]}' is not an origin; expected scheme://host[:port] or '*'"
                )
            cleaned.append(origin)
        return tuple(cleaned)

    @field_validator("plan_limits")
    @classmethod
    def _all_plans(cls, value: dict[str, PlanLimits]) -> dict[str, PlanLimits]:
        merged = dict(DEFAULT_PLAN_LIMITS)
        merged.update(value)
        unknown = sorted(set(merged) - set(PLANS))
        if unknown:
            raise ValueError(f"unknown plan(s) {unknown}; known: {list(PLANS)}")
        return merged

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Settings:
        if self.env == "production":
            if self.secret_key is None or len(self.secret_key.get_secret_value()) < 32:
                raise ValueError(
                    "GROWTHOS_SECRET_KEY must be set to at least 32 characters in production"
                )
            if self.cookie_secure is False:
                raise ValueError("GROWTHOS_COOKIE_SECURE cannot be false in production")
            if self.webhooks_allow_private:
                raise ValueError("GROWTHOS_WEBHOOKS_ALLOW_PRIVATE cannot be true in production")
        return self

    # ---- derived values -------------------------------------------------------------------

    @property
    def catalog_url(self) -> str:
        """The SQLAlchemy URL of the control-plane database."""
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{self.data_dir.resolve() / 'catalog.db'}"

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.public_url.startswith("https://")

    def feature_enabled(self, feature: str) -> bool:
        return feature not in self.disabled_features

    def limit_for(self, plan: str, category: LimitCategory) -> int:
        limits = self.plan_limits.get(plan) or self.plan_limits["free"]
        return int(getattr(limits, category))

    def server_secret(self) -> bytes:
        """The key of every HMAC the server computes (key hashes, cursors, cookies).

        Taken from ``GROWTHOS_SECRET_KEY``; in dev and test, when unset, a random secret is
        created once in ``<data_dir>/server.secret`` (mode 0600) and reused.
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        return _data_dir_secret(str(self.data_dir.resolve()))


@functools.cache
def _data_dir_secret(data_dir: str) -> bytes:
    path = Path(data_dir) / "server.secret"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its secret
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as fh:
        fh.write(value)
        fh.flush()
        os.fsync(fh.fileno())
    if not path.read_bytes().strip():
        raise ConfigurationError(f"could not write the server secret to {path}")
    return value


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
