"""The web pages: ``/`` (landing), ``/login``, ``/console`` (the query console), ``/llms.txt``.

Pages are Jinja2 templates in ``api/templates`` (autoescaped) and files in
``api/static/pages`` served under ``/static/pages``. Every page carries a Content Security
Policy without inline scripts or styles, refuses to be framed, and holds no secret: the
console runs in the browser against the same JSON API as every other client, with the
``gos_session`` cookie (or, in key mode, a key the person pastes and that lives only in the
page's memory).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from api import llms_txt
from api.deps import CatalogDep, SettingsDep, _check_same_origin
from growthos_pipeline import __version__
from growthos_pipeline.catalog import accounts
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.errors import Unauthorized
from growthos_pipeline.settings import Settings

_API_DIR = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = _API_DIR / "templates"
STATIC_DIR = _API_DIR / "static" / "pages"
STATIC_PREFIX = "/static/pages"

#: Where a person may be sent back after signing in: an allow-list (no open redirect); the
#: cookie holds the name, the ``next`` parameter of /login the path.
_NEXT_COOKIE = "gos_next"
_NEXT_PAGES = {"console": "/console", "console-key": "/console/key"}
_NEXT_NAMES = {path: name for name, path in _NEXT_PAGES.items()}

#: No inline script or style anywhere; only this origin's files; never framed.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}

_templates = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html"], default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

router = APIRouter(include_in_schema=False)


def _static_url(name: str) -> str:
    """The URL of a static file, with its content hash (so a new release is never served
    from a stale cache)."""
    path = STATIC_DIR / name
    return f"{STATIC_PREFIX}/{name}?v={_digest(path, path.stat().st_mtime_ns)}"


@functools.lru_cache(maxsize=64)
def _digest(path: Path, mtime_ns: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _page(
    template: str, *, status_code: int = 200, cache: str = "no-store", **context: Any
) -> HTMLResponse:
    html = _templates.get_template(template).render(
        static=_static_url, version=__version__, **context
    )
    headers = {**SECURITY_HEADERS, "Cache-Control": cache}
    return HTMLResponse(html, status_code=status_code, headers=headers)


def _session_user(catalog: Catalog, settings: Settings, token: str | None) -> dict[str, Any] | None:
    """The signed-in person for a session cookie, or None (no cookie, expired, ended)."""
    if not token:
        return None
    try:
        principal = accounts.authenticate_session(catalog, settings, token)
    except Unauthorized:
        return None
    return accounts.get_user(catalog, principal)


def _login_state(settings: Settings) -> dict[str, Any]:
    """What ``/login`` can offer: GitHub sign-in, or why not."""
    if not settings.feature_enabled("oauth_login"):
        return {
            "available": False,
            "reason": "Sign-in is switched off on this deployment "
            "(GROWTHOS_DISABLED_FEATURES includes oauth_login).",
        }
    if not settings.github_client_id or settings.github_client_secret is None:
        return {
            "available": False,
            "reason": "GitHub sign-in is not configured on this deployment: the operator sets "
            "GROWTHOS_GITHUB_CLIENT_ID and GROWTHOS_GITHUB_CLIENT_SECRET.",
        }
    return {"available": True, "reason": None}


def _cookie(request: Request, name: str) -> str | None:
    """A cookie's value; an odd one (too long) counts as none: a page never answers 422."""
    value = request.cookies.get(name)
    return value if value and len(value) <= 200 else None


@router.api_route("/", methods=["GET", "HEAD"], name="landing_page")
async def landing_page(request: Request, catalog: CatalogDep, settings: SettingsDep) -> Response:
    """What GrowthOS Pipeline is, and where to go from here (works without JavaScript)."""
    session = _cookie(request, accounts.SESSION_COOKIE)
    next_page = _cookie(request, _NEXT_COOKIE)
    user = await run_in_threadpool(_session_user, catalog, settings, session)
    if user is not None and next_page in _NEXT_PAGES:
        # Back from signing in, to the page that sent the person to /login.
        response: Response = RedirectResponse(_NEXT_PAGES[next_page], status_code=303)
        response.delete_cookie(_NEXT_COOKIE, path="/")
        return response
    return _page("landing.html", user=user, login=_login_state(settings))


@router.get("/login", name="login_page")
async def login_page(request: Request, catalog: CatalogDep, settings: SettingsDep) -> Response:
    """The "Sign in with GitHub" button, or a plain message saying why it is not offered."""
    session = _cookie(request, accounts.SESSION_COOKIE)
    next_path = request.query_params.get("next")
    next_path = next_path if next_path in _NEXT_NAMES else None
    user = await run_in_threadpool(_session_user, catalog, settings, session)
    if user is not None:
        return RedirectResponse(next_path or "/", status_code=303)
    response = _page(
        "login.html",
        user=None,
        login=_login_state(settings),
        start_url="/v1/auth/github/login",
        next_path=next_path,
    )
    if next_path:
        response.set_cookie(
            _NEXT_COOKIE,
            _NEXT_NAMES[next_path],
            max_age=600,
            httponly=True,
            secure=settings.secure_cookies,
            samesite="lax",
            path="/",
        )
    return response


@router.post("/logout", name="logout_page")
async def logout_page(request: Request, catalog: CatalogDep, settings: SettingsDep) -> Response:
    """Sign out from a page (a plain form, no script) and go back to the landing page."""
    _check_same_origin(request, settings)
    session = _cookie(request, accounts.SESSION_COOKIE)
    if session:
        await run_in_threadpool(accounts.end_session, catalog, settings, session)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(accounts.SESSION_COOKIE, path="/")
    return response


@router.get("/console", name="console_page")
async def console_page(request: Request, catalog: CatalogDep, settings: SettingsDep) -> Response:
    """The query console for a signed-in person: pick a project, run a query, see a table and
    a chart. Without a session: to /login, and back here after signing in."""
    session = _cookie(request, accounts.SESSION_COOKIE)
    user = await run_in_threadpool(_session_user, catalog, settings, session)
    if user is None:
        return RedirectResponse("/login?next=/console", status_code=303)
    return _page(
        "console.html",
        mode="session",
        user=user,
        query_enabled=settings.feature_enabled("query"),
    )


@router.get("/console/key", name="console_key_page")
async def console_key_page(settings: SettingsDep) -> Response:
    """The query console with a pasted key (an ``sk_``, an ``aat_`` with the ``query`` scope,
    or an ``ak_``), for deployments without GitHub sign-in. The key stays in the page's memory:
    it is sent as ``X-API-Key`` to this origin only, and never stored."""
    return _page(
        "console.html", mode="key", user=None, query_enabled=settings.feature_enabled("query")
    )


@router.api_route("/llms.txt", methods=["GET", "HEAD"], name="llms_txt")
async def llms_txt_page(request: Request, settings: SettingsDep) -> Response:
    """A summary of the API for language models (the llms.txt convention), with every
    operation of the OpenAPI document."""
    state = request.app.state
    cached: tuple[str, str] | None = getattr(state, "llms_txt", None)
    if cached is None:
        text = llms_txt.render(request.app.openapi(), public_url=settings.public_url)
        cached = (text, '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"')
        state.llms_txt = cached
    text, etag = cached
    headers = {
        "Cache-Control": "public, max-age=3600",
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return PlainTextResponse(text, headers=headers)


class PageFiles:
    """The pages' static files, with ``nosniff`` and revalidation (the URLs carry a content
    hash, but a stale copy must never outlive a release under an old link)."""

    def __init__(self) -> None:
        self.files = StaticFiles(directory=STATIC_DIR)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"cache-control", b"no-cache"))
                message = {**message, "headers": headers}
            await send(message)

        await self.files(scope, receive, send_with_headers)
