"""Validated inputs of the control plane (shared by the API, the CLI and the Python client).

Inputs forbid unknown fields, so a caller cannot smuggle in ``org_id``, ``plan`` or ``id``
where they are not accepted (mass assignment).

Examples
--------
>>> ProjectSettingsUpdate(timezone="Europe/Berlin").timezone
'Europe/Berlin'
>>> from pydantic import ValidationError
>>> try:
...     ProjectSettingsUpdate(timezone="Mars/Olympus")
... except ValidationError as err:
...     print(err.errors()[0]["msg"])
Value error, unknown time zone 'Mars/Olympus'; use an IANA name such as 'Europe/Berlin'
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Name = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$"
    ),
]
PlanName = Literal["free", "growth", "scale"]
ScopeName = Literal["track", "query", "admin"]
_DURATION = re.compile(r"^(\d{1,6})(s|m|h|d)$")


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OrgCreate(Input):
    name: Name


class ProjectSettingsUpdate(Input):
    """Settings a project admin may change; ``plan`` only an org admin may change."""

    plan: PlanName | None = None
    retention_days: int | None = Field(default=None, ge=1, le=3650)
    timezone: str | None = Field(default=None, max_length=64)
    allowed_origins: list[str] | None = Field(default=None, max_length=50)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone '{value}'; use an IANA name such as 'Europe/Berlin'"
            ) from None
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        cleaned = []
        for origin in value:
            origin = origin.strip().rstrip("/")
            if origin == "*":
                cleaned.append(origin)
                continue
            parts = urlsplit(origin)
            if (
                parts.scheme not in ("http", "https")
                or not parts.hostname
                or parts.path
                or parts.query
                or parts.fragment
                or len(origin) > 255
            ):
                raise ValueError(
                    f"'{origin[:80]}' is not an origin; expected scheme://host[:port], "
                    "for example https://app.example.com, or '*'"
                )
            cleaned.append(origin)
        return sorted(set(cleaned))


class ProjectCreate(ProjectSettingsUpdate):
    name: Name


class ProjectDelete(Input):
    """Deleting a project removes all its data: the name must be typed twice."""

    project_name: str = Field(max_length=100)
    project_name_confirm: str = Field(max_length=100)


class TokenCreate(Input):
    name: Name
    scopes: list[ScopeName] = Field(min_length=1, max_length=3)
    expires_in: str = Field(default="720h", max_length=16, description="e.g. 720h, 30d, 90m")

    @field_validator("expires_in")
    @classmethod
    def _duration(cls, value: str) -> str:
        if not _DURATION.match(value):
            raise ValueError(
                f"'{value}' is not a duration; expected a number and a unit s, m, h or d, "
                "such as 720h"
            )
        return value


def duration_seconds(text: str) -> int:
    """Seconds in a duration like ``720h``.

    >>> duration_seconds("720h"), duration_seconds("30d"), duration_seconds("90m")
    (2592000, 2592000, 5400)
    """
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r}")
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
