"""People who sign in (GitHub OAuth), their org memberships and their sessions.

A session is a random token in the ``gos_session`` cookie; the catalog keeps its keyed hash.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update

from growthos_pipeline.catalog import credentials
from growthos_pipeline.catalog.access import Principal
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.tables import memberships, sessions, users, utcnow
from growthos_pipeline.errors import BadRequest, Forbidden, Unauthorized
from growthos_pipeline.ids import new_id
from growthos_pipeline.settings import Settings

SESSION_COOKIE = "gos_session"
_SESSION_PREFIX = "gss_"


def upsert_user(catalog: Catalog, provider: str, profile: dict[str, Any]) -> dict[str, Any]:
    """The user for a provider's profile (``id``, ``login``, ``name``, ``email``)."""
    provider_user_id = str(profile.get("id") or "")
    login = str(profile.get("login") or "")[:100]
    if not provider_user_id or not login:
        raise BadRequest("oauth_profile_invalid", f"the {provider} profile has no id or login")
    values = {
        "login": login,
        "name": (str(profile["name"])[:200] if profile.get("name") else None),
        "email": (str(profile["email"])[:320] if profile.get("email") else None),
    }
    with catalog.begin() as conn:
        row = (
            conn.execute(
                select(users).where(
                    users.c.provider == provider, users.c.provider_user_id == provider_user_id
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            user_id = new_id("usr")
            conn.execute(
                insert(users).values(
                    id=user_id,
                    provider=provider,
                    provider_user_id=provider_user_id,
                    created_at=utcnow(),
                    **values,
                )
            )
        else:
            user_id = str(row["id"])
            conn.execute(update(users).where(users.c.id == user_id).values(**values))
        return dict(conn.execute(select(users).where(users.c.id == user_id)).mappings().one())


def start_session(catalog: Catalog, settings: Settings, user_id: str) -> str:
    """A new session token for the user (the cookie value)."""
    token = _SESSION_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    with catalog.begin() as conn:
        conn.execute(
            insert(sessions).values(
                token_hash=credentials.hash_secret(settings.server_secret(), token),
                user_id=user_id,
                created_at=now,
                expires_at=now + timedelta(hours=settings.session_ttl_hours),
            )
        )
    return token


def end_session(catalog: Catalog, settings: Settings, token: str) -> None:
    with catalog.begin() as conn:
        conn.execute(
            delete(sessions).where(
                sessions.c.token_hash == credentials.hash_secret(settings.server_secret(), token)
            )
        )


def authenticate_session(catalog: Catalog, settings: Settings, token: str) -> Principal:
    if not token.startswith(_SESSION_PREFIX) or len(token) > 100:
        raise Unauthorized("invalid_session", "the session cookie is not valid; sign in again")
    token_hash = credentials.hash_secret(settings.server_secret(), token)
    with catalog.connect() as conn:
        row = (
            conn.execute(select(sessions).where(sessions.c.token_hash == token_hash))
            .mappings()
            .first()
        )
        if row is None or row["expires_at"] <= utcnow():
            raise Unauthorized("invalid_session", "the session expired or ended; sign in again")
        org_ids = (
            conn.execute(
                select(memberships.c.org_id).where(
                    memberships.c.user_id == row["user_id"], memberships.c.role == "owner"
                )
            )
            .scalars()
            .all()
        )
    user_id = str(row["user_id"])
    return Principal(
        kind="session",
        id=user_id,
        org_id=None,
        project_id=None,
        scopes=frozenset(),
        plan="free",
        admin_org_ids=frozenset(org_ids),
        user_id=user_id,
    )


def get_user(catalog: Catalog, principal: Principal) -> dict[str, Any]:
    if principal.user_id is None:
        raise Forbidden("session_required", "this call needs a signed-in session, not a key")
    with catalog.connect() as conn:
        row = conn.execute(select(users).where(users.c.id == principal.user_id)).mappings().one()
    return {
        "id": row["id"],
        "login": row["login"],
        "name": row["name"],
        "email": row["email"],
        "provider": row["provider"],
        "org_ids": sorted(principal.admin_org_ids),
        "created_at": row["created_at"],
    }
