"""Dependencies as ``Annotated`` aliases, so that handlers read like the domain."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import APIKeyCookie, APIKeyHeader, APIKeyQuery, HTTPAuthorizationCredentials
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool

from growthos_pipeline.catalog.access import Principal, require_admin_kind
from growthos_pipeline.catalog.accounts import SESSION_COOKIE, authenticate_session
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.keys import KeyCache, authenticate
from growthos_pipeline.catalog.pagination import DEFAULT_LIMIT, MAX_LIMIT
from growthos_pipeline.errors import FeatureDisabled, Forbidden, RateLimited, Unauthorized
from growthos_pipeline.ratelimit import RateLimiter
from growthos_pipeline.settings import LimitCategory, Settings


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _catalog(request: Request) -> Catalog:
    return request.app.state.catalog  # type: ignore[no-any-return]


def _limiter(request: Request) -> RateLimiter:
    return request.app.state.limiter  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(_settings)]
CatalogDep = Annotated[Catalog, Depends(_catalog)]
LimiterDep = Annotated[RateLimiter, Depends(_limiter)]

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                               description="An ak_, sk_, pk_ or aat_ key")
_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <key>")
_key_query = APIKeyQuery(name="key", auto_error=False, description="The key as ?key=")
_session_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                               description="The session cookie set by GitHub sign-in")

_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


async def _rate_limit(
    request: Request, settings: Settings, limiter: RateLimiter, principal: Principal,
    category: LimitCategory,
) -> None:
    if not settings.rate_limits_enabled:
        return
    if principal.kind == "session":
        limit = settings.session_limit
    else:
        limit = settings.limit_for(principal.plan, category)
    decision = await limiter.hit(principal.actor, limit, category)
    request.state.rate_limit = decision
    if not decision.allowed:
        raise RateLimited(
            "rate_limited",
            f"more than {limit} {category} requests in {settings.rate_limit_window_s} s "
            f"for this credential ({principal.plan} plan); retry after the window resets",
            headers=decision.headers(),
        )


def _principal_dependency(
    category: LimitCategory, *, allow_session: bool = True
) -> Callable[..., Coroutine[Any, Any, Principal]]:
    async def dependency(
        request: Request,
        settings: SettingsDep,
        catalog: CatalogDep,
        limiter: LimiterDep,
        x_api_key: Annotated[str | None, Depends(_api_key_header)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        key: Annotated[str | None, Depends(_key_query)],
        session: Annotated[str | None, Depends(_session_cookie)],
    ) -> Principal:
        raw = x_api_key or (bearer.credentials if bearer else None) or key
        raw = raw or _basic_username(request.headers.get("authorization"))
        if raw:
            raw = raw.strip()
            if category == "ingest":
                cache: KeyCache = request.app.state.key_cache
                principal = cache.get(raw) or await run_in_threadpool(
                    cache.authenticate, catalog, settings, raw
                )
            else:
                principal = await run_in_threadpool(authenticate, catalog, settings, raw)
        elif session and allow_session:
            principal = await run_in_threadpool(authenticate_session, catalog, settings, session)
            _check_same_origin(request, settings)
        else:
            raise Unauthorized(
                "missing_credentials",
                "send a key in the X-API-Key header, as Authorization: Bearer, or as ?key=",
            )
        await _rate_limit(request, settings, limiter, principal, category)
        return principal

    return dependency


def _basic_username(header: str | None) -> str | None:
    """The key sent as HTTP Basic user name (how Segment's libraries send a write key)."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("invalid_api_key", "the Basic credentials are not base64") from None
    return decoded.split(":", 1)[0] or None


def _check_same_origin(request: Request, settings: Settings) -> None:
    """Cookie-authenticated writes must come from our own pages (CSRF)."""
    origin = request.headers.get("origin")
    if request.method in _UNSAFE and origin is not None:
        allowed = {settings.public_url.rstrip("/"), str(request.base_url).rstrip("/")}
        if origin.rstrip("/") not in allowed:
            raise Forbidden("cross_site_request", f"requests from '{origin}' are not allowed")


def require_feature(feature: str) -> Any:
    """A route dependency answering 503 ``feature_disabled`` when the deployment switched
    ``feature`` off."""

    def dependency(settings: SettingsDep) -> None:
        if not settings.feature_enabled(feature):
            raise FeatureDisabled(
                "feature_disabled", f"the '{feature}' feature is switched off on this deployment"
            )

    return Depends(dependency)


ManagementPrincipal = Annotated[Principal, Depends(_principal_dependency("management"))]


async def _org_admin(principal: ManagementPrincipal) -> Principal:
    require_admin_kind(principal)
    return principal


#: An org admin key (``ak_``) or a signed-in person: project keys and tokens get 403.
OrgAdminPrincipal = Annotated[Principal, Depends(_org_admin)]

IngestPrincipal = Annotated[Principal, Depends(_principal_dependency("ingest",
                                                                      allow_session=False))]

Cursor = Annotated[
    str | None, Query(max_length=200, description="The next_cursor of the previous page")
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")]
DEFAULT_PAGE_SIZE = DEFAULT_LIMIT
