"""Sign-in with GitHub, end to end, over real sockets.

A small provider app speaks GitHub's OAuth dialect (github.com is not reachable here). It and
the GrowthOS API each run on a uvicorn server on 127.0.0.1; an ``httpx2`` client plays the
browser: it follows redirects by hand and keeps cookies, so every hop a person's browser makes
is visible to the test. The API exchanges the code with the provider server-to-server.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx2
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from api.app import create_app
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.settings import Settings
from tests.conftest import MakeSettings, auth

CLIENT_ID = "Iv1.growthos0test"
CLIENT_SECRET = "gh-secret-" + "s" * 30
OCTOCAT = {"id": 4242, "login": "octocat", "name": "The Octocat", "email": None}
HUBOT = {"id": 4343, "login": "hubot", "name": "Hubot", "email": "hubot@github.com"}


# --- the provider ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    client_id: str
    redirect_uri: str
    login: str
    scope: str


class FakeGitHub:
    """The OAuth endpoints and user API of GitHub, as far as sign-in uses them.

    The person signed in at the provider is ``octocat`` unless the authorize URL carries
    GitHub's ``login`` parameter, which here picks the account. Authorization auto-approves.
    """

    def __init__(self) -> None:
        self.oauth_apps: dict[str, tuple[str, str]] = {}  # client_id -> (secret, callback)
        self.users = {"octocat": OCTOCAT, "hubot": HUBOT}
        self.emails = {
            "octocat": [
                {
                    "email": "octocat@users.noreply.github.com",
                    "primary": False,
                    "verified": True,
                    "visibility": None,
                },
                {
                    "email": "octocat@github.com",
                    "primary": True,
                    "verified": True,
                    "visibility": "private",
                },
            ],
            "hubot": [
                {
                    "email": "hubot@github.com",
                    "primary": True,
                    "verified": True,
                    "visibility": "public",
                }
            ],
        }
        self.codes: dict[str, Grant] = {}
        self.tokens: dict[str, str] = {}  # access token -> login
        self.app = Starlette(
            routes=[
                Route("/login/oauth/authorize", self.authorize, methods=["GET"]),
                Route("/login/oauth/access_token", self.access_token, methods=["POST"]),
                Route("/user", self.user, methods=["GET"]),
                Route("/user/emails", self.user_emails, methods=["GET"]),
            ]
        )

    def register(self, client_id: str, client_secret: str, callback_url: str) -> None:
        self.oauth_apps[client_id] = (client_secret, callback_url)

    async def authorize(self, request: Request) -> Response:
        query = request.query_params
        client_id = query.get("client_id", "")
        if client_id not in self.oauth_apps or query.get("response_type", "code") != "code":
            return PlainTextResponse("Not Found", status_code=404)
        callback = self.oauth_apps[client_id][1]
        redirect_uri = query.get("redirect_uri") or callback
        if redirect_uri != callback:
            return PlainTextResponse(
                "The redirect_uri MUST match the registered callback URL for this application.",
                status_code=400,
            )
        login = query.get("login") or "octocat"
        code = secrets.token_hex(10)
        self.codes[code] = Grant(client_id, redirect_uri, login, query.get("scope", ""))
        params = {"code": code}
        if query.get("state"):
            params["state"] = query["state"]
        return RedirectResponse(f"{redirect_uri}?{urlencode(params)}", status_code=302)

    async def access_token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            client_id, _, client_secret = base64.b64decode(credentials).decode().partition(":")
        registered = self.oauth_apps.get(client_id)
        if registered is None or not hmac.compare_digest(registered[0], client_secret):
            return self._token_reply(
                request,
                {
                    "error": "incorrect_client_credentials",
                    "error_description": "The client_id and/or client_secret passed are incorrect.",
                },
            )
        grant = self.codes.get(form.get("code", ""))
        if grant is None or grant.client_id != client_id:
            return self._token_reply(
                request,
                {
                    "error": "bad_verification_code",
                    "error_description": "The code passed is incorrect or expired.",
                    "error_uri": "https://docs.github.com/apps/managing-oauth-apps/"
                    "troubleshooting-oauth-app-access-token-request-errors/"
                    "#bad-verification-code",
                },
            )
        if form.get("redirect_uri", grant.redirect_uri) != grant.redirect_uri:
            return self._token_reply(
                request,
                {
                    "error": "redirect_uri_mismatch",
                    "error_description": "The redirect_uri MUST match the registered callback URL.",
                },
            )
        del self.codes[form["code"]]  # codes are single-use
        token = "gho_" + secrets.token_hex(18)
        self.tokens[token] = grant.login
        return self._token_reply(
            request,
            {
                "access_token": token,
                "token_type": "bearer",
                "scope": ",".join(grant.scope.split()),
            },
        )

    @staticmethod
    def _token_reply(request: Request, body: dict[str, str]) -> Response:
        # GitHub answers 200 even for errors, as JSON only when asked to.
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse(body)
        return Response(urlencode(body), media_type="application/x-www-form-urlencoded")

    def _login(self, request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return self.tokens.get(token) if scheme.lower() in ("bearer", "token") else None

    @staticmethod
    def _unauthenticated() -> Response:
        return JSONResponse(
            {
                "message": "Requires authentication",
                "documentation_url": "https://docs.github.com/rest",
                "status": "401",
            },
            status_code=401,
        )

    async def user(self, request: Request) -> Response:
        login = self._login(request)
        return JSONResponse(self.users[login]) if login else self._unauthenticated()

    async def user_emails(self, request: Request) -> Response:
        login = self._login(request)
        return JSONResponse(self.emails[login]) if login else self._unauthenticated()


# --- servers --------------------------------------------------------------------------------


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _url(sock: socket.socket) -> str:
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextmanager
def _serve(app: Any, sock: socket.socket) -> Iterator[None]:
    """Run ``app`` on uvicorn in a background thread, listening on ``sock``."""
    config = uvicorn.Config(
        app, log_config=None, log_level="warning", lifespan="off", ws="none", http="h11"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
        time.sleep(0.005)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


@pytest.fixture(scope="module")
def github() -> Iterator[tuple[FakeGitHub, str]]:
    provider = FakeGitHub()
    sock = _listening_socket()
    with _serve(provider.app, sock):
        yield provider, _url(sock)


@dataclass
class RunningApi:
    url: str
    settings: Settings
    provider: FakeGitHub


StartApi = Callable[..., RunningApi]


@pytest.fixture
def start_api(github: tuple[FakeGitHub, str], make_settings: MakeSettings) -> Iterator[StartApi]:
    """Start the GrowthOS API on its own port, wired to the provider; settings overridable."""
    provider, provider_url = github
    stack: list[Any] = []

    def start(**overrides: Any) -> RunningApi:
        sock = _listening_socket()
        url = _url(sock)
        values: dict[str, Any] = {
            "public_url": url,
            "github_client_id": CLIENT_ID,
            "github_client_secret": CLIENT_SECRET,
            "github_authorize_url": f"{provider_url}/login/oauth/authorize",
            "github_token_url": f"{provider_url}/login/oauth/access_token",
            "github_api_url": provider_url,
        }
        values.update(overrides)
        settings = make_settings(**values)
        provider.register(CLIENT_ID, CLIENT_SECRET, f"{url}/v1/auth/github/callback")
        catalog = Catalog.open(settings)
        stack.append(catalog)
        server = _serve(create_app(settings, catalog=catalog), sock)
        server.__enter__()
        stack.append(server)
        return RunningApi(url, settings, provider)

    yield start
    for item in reversed(stack):
        if isinstance(item, Catalog):
            item.dispose()
        else:
            item.__exit__(None, None, None)


@pytest.fixture
def api(start_api: StartApi) -> RunningApi:
    return start_api()


Browser = Callable[[], httpx2.Client]


@pytest.fixture
def new_browser() -> Iterator[Browser]:
    """Fresh browsers (each with its own cookie jar); closed at teardown."""
    browsers: list[httpx2.Client] = []

    def new() -> httpx2.Client:
        browser = httpx2.Client(follow_redirects=False, timeout=10.0)
        browsers.append(browser)
        return browser

    yield new
    for browser in browsers:
        browser.close()


# --- the browser's side of sign-in ----------------------------------------------------------


def _follow(browser: httpx2.Client, response: httpx2.Response) -> httpx2.Response:
    return browser.get(urljoin(str(response.url), response.headers["location"]))


def _with_query(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return parts._replace(query=urlencode(query)).geturl()


def sign_in(
    browser: httpx2.Client,
    api: RunningApi,
    *,
    as_login: str | None = None,
    code: str | None = None,
) -> httpx2.Response:
    """Click "Sign in with GitHub" and follow the redirects up to the API's callback answer.

    ``as_login`` picks the GitHub account; ``code`` replaces the one the provider sent back to
    the callback (``""`` drops it).
    """
    start = browser.get(f"{api.url}/v1/auth/github/login")
    assert start.status_code == 302, start.text
    authorize_url = start.headers["location"]
    assert authorize_url.startswith(api.settings.github_authorize_url + "?")
    if as_login:
        authorize_url = _with_query(authorize_url, login=as_login)
    at_provider = browser.get(authorize_url)
    assert at_provider.status_code == 302, at_provider.text
    callback_url = at_provider.headers["location"]
    assert callback_url.startswith(f"{api.url}/v1/auth/github/callback?")
    if code is not None:
        callback_url = _with_query(callback_url, code=code or None)
    return browser.get(callback_url)


def signed_in(browser: httpx2.Client, api: RunningApi, *, as_login: str | None = None) -> None:
    callback = sign_in(browser, api, as_login=as_login)
    assert callback.status_code == 302, callback.text
    assert callback.headers["location"] == "/"
    assert browser.cookies.get("gos_session", "").startswith("gss_")


def assert_error(response: httpx2.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "request_id"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def _set_cookie(response: httpx2.Response, name: str) -> list[str]:
    """The attributes of the ``Set-Cookie`` header for ``name``, lower-cased."""
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return [part.strip().lower() for part in header.split(";")]
    raise AssertionError(f"no Set-Cookie for {name}: {response.headers}")


# --- tests ----------------------------------------------------------------------------------


def test_sign_in_reads_the_github_profile_with_its_primary_email(
    api: RunningApi, new_browser: Browser
) -> None:
    browser = new_browser()
    signed_in(browser, api)
    assert "gos_oauth_state" not in browser.cookies  # used once, then cleared

    me = browser.get(f"{api.url}/v1/me")
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["login"] == "octocat"
    assert body["name"] == "The Octocat"
    assert body["email"] == "octocat@github.com"  # from /user/emails: primary and verified
    assert body["provider"] == "github"
    assert body["org_ids"] == []

    # Signing in again is the same person, not a new user.
    again = new_browser()
    signed_in(again, api)
    assert again.get(f"{api.url}/v1/me").json()["id"] == body["id"]


def test_a_signed_in_owner_creates_an_org_and_its_projects(
    api: RunningApi, new_browser: Browser
) -> None:
    browser = new_browser()
    signed_in(browser, api)

    created = browser.post(f"{api.url}/v1/orgs", json={"name": "Octo Corp"})
    assert created.status_code == 201, created.text
    org = created.json()
    assert org["name"] == "Octo Corp"
    assert org["admin_key"].startswith("ak_")

    # The admin key shown once works on the admin API of that org.
    admin = browser.get(f"{api.url}/v1/admin/org", headers=auth(org["admin_key"]))
    assert admin.status_code == 200, admin.text
    assert admin.json()["id"] == org["id"]

    listed = browser.get(f"{api.url}/v1/orgs")
    assert listed.status_code == 200, listed.text
    assert [o["id"] for o in listed.json()["data"]] == [org["id"]]
    assert "admin_key" not in listed.json()["data"][0]
    assert browser.get(f"{api.url}/v1/me").json()["org_ids"] == [org["id"]]

    project = browser.post(f"{api.url}/v1/orgs/{org['id']}/projects", json={"name": "Web"})
    assert project.status_code == 201, project.text
    assert project.json()["org_id"] == org["id"]
    assert project.json()["secret_key"].startswith("sk_")
    projects = browser.get(f"{api.url}/v1/orgs/{org['id']}/projects")
    assert [p["name"] for p in projects.json()["data"]] == ["Web"]


def test_another_person_cannot_reach_the_first_persons_org(
    api: RunningApi, new_browser: Browser
) -> None:
    octocat = new_browser()
    signed_in(octocat, api)
    org = octocat.post(f"{api.url}/v1/orgs", json={"name": "Octo Corp"}).json()

    hubot = new_browser()
    signed_in(hubot, api, as_login="hubot")
    me = hubot.get(f"{api.url}/v1/me").json()
    assert (me["login"], me["email"]) == ("hubot", "hubot@github.com")  # public email

    assert_error(hubot.get(f"{api.url}/v1/orgs/{org['id']}"), 404, "org_not_found")
    assert_error(hubot.get(f"{api.url}/v1/orgs/{org['id']}/projects"), 404, "org_not_found")
    assert_error(
        hubot.post(f"{api.url}/v1/orgs/{org['id']}/projects", json={"name": "Mine"}),
        404,
        "org_not_found",
    )
    assert hubot.get(f"{api.url}/v1/orgs").json()["data"] == []
    # Nothing was added to octocat's org.
    assert octocat.get(f"{api.url}/v1/orgs/{org['id']}/projects").json()["data"] == []


def test_logout_ends_the_session_on_the_server(api: RunningApi, new_browser: Browser) -> None:
    browser = new_browser()
    signed_in(browser, api)
    token = browser.cookies["gos_session"]

    out = browser.post(f"{api.url}/v1/auth/logout")
    assert out.status_code == 204, out.text
    assert "gos_session" not in browser.cookies
    assert_error(browser.get(f"{api.url}/v1/me"), 401, "missing_credentials")

    # The old cookie, replayed, no longer opens a session.
    replay = browser.get(f"{api.url}/v1/me", headers={"Cookie": f"gos_session={token}"})
    assert_error(replay, 401, "invalid_session")


def _forge_state_cookie(browser: httpx2.Client, value: str | None) -> None:
    """Replace the state cookie (``None``: drop it), as a cross-site link or a forger would."""
    browser.cookies.clear()
    if value is not None:
        browser.cookies.set("gos_oauth_state", value, domain="127.0.0.1", path="/")


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        ("no_cookie", "oauth_state_missing"),
        ("no_state", "oauth_state_missing"),
        ("other_state", "oauth_state_mismatch"),
        ("unsigned_cookie", "oauth_state_invalid"),
    ],
)
def test_a_callback_without_the_matching_state_is_refused(
    api: RunningApi, new_browser: Browser, tamper: str, code: str
) -> None:
    browser = new_browser()
    start = browser.get(f"{api.url}/v1/auth/github/login")
    signed_state = start.cookies["gos_oauth_state"]
    callback_url = browser.get(start.headers["location"]).headers["location"]
    state = parse_qs(urlsplit(callback_url).query)["state"][0]
    if tamper == "no_cookie":
        _forge_state_cookie(browser, None)
    elif tamper == "no_state":
        callback_url = _with_query(callback_url, state=None)
    elif tamper == "other_state":
        callback_url = _with_query(callback_url, state="an-attackers-state")
    else:
        # Same state, another signature: only our secret can sign.
        payload = signed_state.rsplit(".", 1)[0]
        _forge_state_cookie(browser, payload + "." + "A" * 27)
    assert_error(browser.get(callback_url), 400, code)
    assert "gos_session" not in browser.cookies

    # Untampered, the same sign-in goes through: the refusal was the tampering's doing.
    if tamper in ("no_state", "other_state"):
        assert browser.get(_with_query(callback_url, state=state)).status_code == 302


def test_a_code_the_provider_rejects_answers_400_not_500(
    api: RunningApi, new_browser: Browser
) -> None:
    browser = new_browser()
    callback = sign_in(browser, api, code="not-a-code-github-issued")
    body = assert_error(callback, 400, "oauth_code_invalid")
    assert body["error"]["details"] == [{"provider_error": "bad_verification_code"}]
    assert "gos_session" not in browser.cookies

    missing = sign_in(new_browser(), api, code="")
    assert_error(missing, 400, "oauth_code_missing")


def test_a_code_used_twice_is_refused(api: RunningApi, new_browser: Browser) -> None:
    browser = new_browser()
    start = browser.get(f"{api.url}/v1/auth/github/login")
    callback_url = browser.get(start.headers["location"]).headers["location"]
    state_cookie = browser.cookies["gos_oauth_state"]
    assert browser.get(callback_url).status_code == 302
    # A replay of the same callback (state cookie restored): GitHub codes are single-use.
    _forge_state_cookie(browser, state_cookie)
    assert_error(browser.get(callback_url), 400, "oauth_code_invalid")


def test_a_wrong_client_secret_is_the_deployments_fault_not_the_users(
    start_api: StartApi, new_browser: Browser
) -> None:
    api = start_api(github_client_secret="not-the-registered-secret")
    callback = sign_in(new_browser(), api)
    body = assert_error(callback, 503, "oauth_provider_error")
    assert body["error"]["details"] == [{"provider_error": "incorrect_client_credentials"}]
    assert CLIENT_SECRET not in callback.text and "not-the-registered" not in callback.text


def test_login_answers_503_when_switched_off(start_api: StartApi, new_browser: Browser) -> None:
    api = start_api(disabled_features={"oauth_login"})
    response = new_browser().get(f"{api.url}/v1/auth/github/login")
    assert_error(response, 503, "feature_disabled")


def test_login_answers_503_when_github_is_not_configured(
    start_api: StartApi, new_browser: Browser
) -> None:
    api = start_api(github_client_id=None)
    response = new_browser().get(f"{api.url}/v1/auth/github/login")
    body = assert_error(response, 503, "feature_disabled")
    assert "GROWTHOS_GITHUB_CLIENT_ID" in body["error"]["message"]


def test_cookies_are_httponly_and_samesite_lax(api: RunningApi, new_browser: Browser) -> None:
    browser = new_browser()
    start = browser.get(f"{api.url}/v1/auth/github/login")
    state = _set_cookie(start, "gos_oauth_state")
    assert {"httponly", "samesite=lax", "path=/"} <= set(state)
    assert "secure" not in state  # plain-http deployment: a Secure cookie would be dropped

    callback = _follow(browser, browser.get(start.headers["location"]))
    assert callback.status_code == 302, callback.text
    session = _set_cookie(callback, "gos_session")
    assert {"httponly", "samesite=lax", "path=/"} <= set(session)
    assert "secure" not in session


def test_cookies_are_secure_on_an_https_deployment(
    start_api: StartApi, new_browser: Browser
) -> None:
    api = start_api(public_url="https://growth.example.com")
    start = new_browser().get(f"{api.url}/v1/auth/github/login")
    assert {"httponly", "samesite=lax", "secure"} <= set(_set_cookie(start, "gos_oauth_state"))


def test_a_cross_site_post_with_the_session_cookie_is_refused(
    api: RunningApi, new_browser: Browser
) -> None:
    browser = new_browser()
    signed_in(browser, api)

    foreign = browser.post(
        f"{api.url}/v1/orgs", json={"name": "Evil Corp"}, headers={"Origin": "https://evil.example"}
    )
    assert_error(foreign, 403, "cross_site_request")
    assert browser.get(f"{api.url}/v1/orgs").json()["data"] == []

    own = browser.post(
        f"{api.url}/v1/orgs", json={"name": "Octo Corp"}, headers={"Origin": api.url}
    )
    assert own.status_code == 201, own.text
