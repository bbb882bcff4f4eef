"""Response models of the management API (inputs live in ``growthos_pipeline.catalog.models``).

Secrets appear in exactly one response each: the one that creates them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class ErrorDetail(BaseModel):
    code: str = Field(examples=["project_not_found"])
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class ErrorEnvelope(BaseModel):
    error: ErrorDetail
    request_id: str | None = Field(examples=["req_01JD5M9Q8X7Z3C2B1A0V9T8S7R"])


class Page(BaseModel, Generic[T]):
    data: list[T]
    has_more: bool
    next_cursor: str | None


class Org(BaseModel):
    id: str
    name: str
    plan: Literal["free", "growth", "scale"]
    created_at: datetime


class OrgCreated(Org):
    admin_key: str = Field(description="The org admin key (ak_). Shown this once.")


class AdminKeyRotated(BaseModel):
    org_id: str
    admin_key: str = Field(description="The new admin key (ak_). Shown this once.")
    revoked: int


class Project(BaseModel):
    id: str
    org_id: str
    name: str
    plan: Literal["free", "growth", "scale"]
    retention_days: int | None
    timezone: str
    allowed_origins: list[str]
    created_at: datetime
    updated_at: datetime


class ProjectCreated(Project):
    public_key: str = Field(description="The public key (pk_): may only ingest.")
    secret_key: str = Field(description="The secret key (sk_). Shown this once.")


class ProjectDeleted(BaseModel):
    id: str
    deleted: bool
    lake: dict[str, Any] = Field(
        default_factory=dict, description="Per lake table: rows deleted, files removed"
    )


class SecretKeyRotated(BaseModel):
    project_id: str
    secret_key: str = Field(description="The new secret key (sk_). Shown this once.")
    revoked: int


class Token(BaseModel):
    id: str
    project_id: str
    name: str
    prefix: str = Field(description="The first characters of the token, for recognising it.")
    scopes: list[Literal["track", "query", "admin"]]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    status: Literal["active", "expired", "revoked"]


class TokenCreated(Token):
    token: str = Field(description="The access token (aat_). Shown this once.")


class AuditEntry(BaseModel):
    id: str
    action: str
    actor: str
    org_id: str | None
    project_id: str | None
    target: str | None
    details: dict[str, Any]
    request_id: str | None
    created_at: datetime


class User(BaseModel):
    id: str
    login: str
    name: str | None
    email: str | None
    provider: str
    org_ids: list[str]
    created_at: datetime


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(default_factory=dict)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error envelope at the given statuses."""
    text = {
        400: "Bad request",
        401: "Missing or invalid credential",
        403: "Not allowed",
        404: "Not found",
        409: "Conflict",
        410: "Gone",
        413: "Payload too large",
        422: "Validation error",
        429: "Rate limited",
        503: "Unavailable",
        504: "Timeout",
    }
    return {s: {"model": ErrorEnvelope, "description": text.get(s, "Error")} for s in statuses}
