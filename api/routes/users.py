"""One user's profile: properties (every operation applied), first and last seen, devices.
Reads need the ``query`` or ``admin`` scope."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import CatalogDep, ManagementPrincipal, SettingsDep
from api.schemas import error_responses
from growthos_pipeline import profiles

router = APIRouter(tags=["users"], responses=error_responses(401, 403, 404, 422, 429))


class Device(BaseModel):
    device_id: str
    identified_at: datetime | None
    first_seen: datetime | None
    last_seen: datetime | None


class UserProfile(BaseModel):
    project_id: str
    user_id: str
    properties: dict[str, Any]
    first_seen: datetime | None
    last_seen: datetime | None
    updated_at: datetime | None
    devices: list[Device]


@router.get("/projects/{project_id}/users/{user_id}", name="get_user_profile")
def get_user_profile(
    principal: ManagementPrincipal,
    project_id: str,
    user_id: str,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> UserProfile:
    """The user's profile as the ``profiles`` asset last built it; 404 ``user_not_found``."""
    return UserProfile.model_validate(
        profiles.user_profile(catalog, settings, principal, project_id, user_id)
    )
