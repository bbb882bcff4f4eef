"""Sign-in with GitHub: start, callback (sets the ``gos_session`` cookie), sign-out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Cookie, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.deps import CatalogDep, SettingsDep, require_feature
from api.schemas import error_responses
from growthos_pipeline import github_login
from growthos_pipeline.catalog import accounts

router = APIRouter(
    prefix="/auth",
    tags=["auth"],
    dependencies=[require_feature("oauth_login")],
    responses=error_responses(400, 503),
)


def _callback_url(request: Request) -> str:
    configured = request.app.state.settings.github_callback_url
    return str(configured or request.url_for("github_callback"))


@router.get("/github/login", name="github_login", status_code=302, response_class=RedirectResponse)
def github_login_start(request: Request, settings: SettingsDep) -> Response:
    """Redirect to GitHub to sign in."""
    url, state_cookie = github_login.start(settings, _callback_url(request))
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(
        github_login.STATE_COOKIE,
        state_cookie,
        max_age=github_login.STATE_MAX_AGE_S,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
        path="/",
    )
    return response


@router.get(
    "/github/callback", name="github_callback", status_code=302, response_class=RedirectResponse
)
async def github_callback(
    request: Request,
    settings: SettingsDep,
    catalog: CatalogDep,
    code: Annotated[str | None, Query(max_length=512)] = None,
    state: Annotated[str | None, Query(max_length=512)] = None,
    gos_oauth_state: Annotated[str | None, Cookie(max_length=1024)] = None,
) -> Response:
    """GitHub sends the person back here; the session cookie is set and they go home."""
    github_login.check_state(settings, gos_oauth_state, state)
    profile = await github_login.fetch_profile(settings, code or "", _callback_url(request))
    user = await run_in_threadpool(accounts.upsert_user, catalog, "github", profile)
    token = await run_in_threadpool(accounts.start_session, catalog, settings, str(user["id"]))
    response = RedirectResponse("/", status_code=302)
    response.delete_cookie(github_login.STATE_COOKIE, path="/")
    response.set_cookie(
        accounts.SESSION_COOKIE,
        token,
        max_age=settings.session_ttl_hours * 3600,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
        path="/",
    )
    return response


@router.post("/logout", name="logout", status_code=204)
def logout(
    settings: SettingsDep,
    catalog: CatalogDep,
    gos_session: Annotated[str | None, Cookie(max_length=200)] = None,
) -> Response:
    """End the session (harmless without one)."""
    if gos_session:
        accounts.end_session(catalog, settings, gos_session)
    response = Response(status_code=204)
    response.delete_cookie(accounts.SESSION_COOKIE, path="/")
    return response
