"""Dependencies as ``Annotated`` aliases, so that handlers read like the domain."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import (
    APIKeyCookie,
    APIKeyHeader,
    APIKeyQuery,
    HTTPAuthorizationCredentials,
    HTTPBearer,
)
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


# Coroutines, so that FastAPI resolves them on the event loop instead of a threadpool hop each.
async def _settings_dep(request: Request) -> Settings:
    return _settings(request)


async def _catalog_dep(request: Request) -> Catalog:
    return _catalog(request)


async def _limiter_dep(request: Request) -> RateLimiter:
    return _limiter(request)


SettingsDep = Annotated[Settings, Depends(_settings_dep)]
CatalogDep = Annotated[Catalog, Depends(_catalog_dep)]
LimiterDep = Annotated[RateLimiter, Depends(_limiter_dep)]

_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An ak_, sk_, pk_ or aat_ key"
)
_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <key>")
_key_query = APIKeyQuery(name="key", auto_error=False, description="The key as ?key=")
_session_cookie = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="The session cookie set by GitHub sign-in"
)

_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


async def _rate_limit(
    request: Request,
    settings: Settings,
    limiter: RateLimiter,
    principal: Principal,
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


def _dependency_key(request: Request) -> str | None:
    """The key as the principal dependency reads it: ``X-API-Key``, then ``Authorization:
    Bearer``, then ``?key=``, then the HTTP Basic user name (the security schemes' rules)."""
    headers = request.headers
    authorization = headers.get("authorization")
    bearer = None
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        credentials = credentials.strip()
        if scheme and credentials and scheme.lower() == "bearer":
            bearer = credentials
    raw = headers.get("x-api-key") or bearer or request.query_params.get("key") or None
    return raw or _basic_username(authorization)


async def ingest_principal(request: Request) -> Principal:
    """What :data:`IngestPrincipal` resolves to, as one plain call for the ingest routes' lean
    handlers (no dependency solving, no threadpool hop while the key is cached)."""
    raw = _dependency_key(request)
    if not raw:
        raise Unauthorized(
            "missing_credentials",
            "send a key in the X-API-Key header, as Authorization: Bearer, or as ?key=",
        )
    state = request.app.state
    settings: Settings = state.settings
    raw = raw.strip()
    cache: KeyCache = state.key_cache
    principal = cache.get(raw) or await run_in_threadpool(
        cache.authenticate, state.catalog, settings, raw
    )
    await _rate_limit(request, settings, state.limiter, principal, "ingest")
    return principal


async def ingest_principal_for(request: Request, raw: str | None) -> Principal:
    """The ingest principal for a key a protocol carries outside the usual places (PostHog's
    ``api_key`` in the body, GrowthBook's ``?client_key=``): cached and rate limited like
    :data:`IngestPrincipal`."""
    if not raw or not raw.strip():
        raise Unauthorized("missing_credentials", "the request carries no project key")
    settings, catalog = _settings(request), _catalog(request)
    cache: KeyCache = request.app.state.key_cache
    raw = raw.strip()
    principal = cache.get(raw) or await run_in_threadpool(
        cache.authenticate, catalog, settings, raw
    )
    await _rate_limit(request, settings, _limiter(request), principal, "ingest")
    return principal


def _basic_username(header: str | None) -> str | None:
    """The key sent as HTTP Basic user name (how Segment's libraries send a write key)."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("invalid_api_key", "the Basic credentials are not base64") from None
    return decoded.split(":", 1)[0] or None


def presented_key(request: Request) -> str | None:
    """The key a request presents in the usual places, if any: ``X-API-Key``,
    ``Authorization: Bearer`` or Basic (user name), ``?key=`` (for protocol adapters that
    also accept a key in the body, like Segment's ``writeKey``)."""
    return _dependency_key(request)


def _check_same_origin(request: Request, settings: Settings) -> None:
    """Cookie-authenticated writes must come from our own pages (CSRF)."""
    origin = request.headers.get("origin")
    if request.method in _UNSAFE and origin is not None:
        allowed = {settings.public_url.rstrip("/"), str(request.base_url).rstrip("/")}
        if origin.rstrip("/") not in allowed:
            raise Forbidden("cross_site_request", f"requests from '{origin}' are not allowed")


def check_feature(settings: Settings, feature: str) -> None:
    """503 ``feature_disabled`` when the deployment switched ``feature`` off."""
    if not settings.feature_enabled(feature):
        raise FeatureDisabled(
            "feature_disabled", f"the '{feature}' feature is switched off on this deployment"
        )


def require_feature(feature: str) -> Any:
    """A route dependency answering 503 ``feature_disabled`` when the deployment switched
    ``feature`` off."""

    async def dependency(settings: SettingsDep) -> None:
        check_feature(settings, feature)

    return Depends(dependency)


ManagementPrincipal = Annotated[Principal, Depends(_principal_dependency("management"))]


async def _org_admin(principal: ManagementPrincipal) -> Principal:
    require_admin_kind(principal)
    return principal


#: An org admin key (``ak_``) or a signed-in person: project keys and tokens get 403.
OrgAdminPrincipal = Annotated[Principal, Depends(_org_admin)]

IngestPrincipal = Annotated[
    Principal, Depends(_principal_dependency("ingest", allow_session=False))
]

Cursor = Annotated[
    str | None, Query(max_length=200, description="The next_cursor of the previous page")
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")]
DEFAULT_PAGE_SIZE = DEFAULT_LIMIT
