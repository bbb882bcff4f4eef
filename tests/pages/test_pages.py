"""The pages over HTTP: content, security headers, redirects, sign-in states, sign-out."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes.pages import STATIC_DIR
from growthos_pipeline.catalog import accounts
from growthos_pipeline.catalog.database import Catalog
from tests.conftest import MakeSettings

GITHUB = {
    "github_client_id": "Iv1.pages0test",
    "github_client_secret": "gh-secret-" + "p" * 30,
}


class Tags(HTMLParser):
    """The start tags of a page, with their attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text = ""
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text += data

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def tags(html: str) -> Tags:
    parser = Tags()
    parser.feed(html)
    return parser


@pytest.fixture
def make_client(make_settings: MakeSettings) -> Iterator[Any]:
    """``make_client(**settings)``: a test client of an app with those settings."""
    opened: list[tuple[TestClient, Catalog]] = []

    def make(**overrides: Any) -> TestClient:
        settings = make_settings(**overrides)
        catalog = Catalog.open(settings)
        client = TestClient(create_app(settings, catalog=catalog), follow_redirects=False)
        client.__enter__()
        opened.append((client, catalog))
        return client

    yield make
    for client, catalog in opened:
        client.__exit__(None, None, None)
        catalog.dispose()


def sign_in(client: TestClient, *, login: str = "octocat", name: str | None = "The Octocat") -> str:
    """A session for a GitHub user, as the OAuth callback would start it; the cookie is set."""
    app: Any = client.app
    catalog, settings = app.state.catalog, app.state.settings
    github_id = int(hashlib.sha256(login.encode()).hexdigest()[:8], 16)
    user = accounts.upsert_user(catalog, "github", {"id": github_id, "login": login, "name": name})
    token = accounts.start_session(catalog, settings, str(user["id"]))
    client.cookies.set("gos_session", token)
    return token


def assert_page_headers(response: Any) -> None:
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["form-action"] == "'self'"
    assert "unsafe" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-request-id"]


def assert_no_inline_code(html: str) -> None:
    page = tags(html)
    assert page.script_text.strip() == ""  # every script is a file of this origin
    for attrs in page.all("script"):
        assert attrs["src"] and attrs["src"].startswith("/static/pages/")
    for _, attrs in page.tags:
        assert "style" not in attrs
        assert not any(name.startswith("on") for name in attrs)
    assert "<style" not in html


def test_the_landing_page_says_what_it_is_and_links_everywhere(make_client: Any) -> None:
    client = make_client()
    response = client.get("/")
    assert response.status_code == 200
    assert_page_headers(response)
    assert_no_inline_code(response.text)
    assert "<h1>Product analytics you run yourself</h1>" in response.text
    links = {attrs["href"] for attrs in tags(response.text).all("a")}
    assert {"/login", "/console", "/llms.txt", "/docs", "/openapi.json"} <= links
    assert not tags(response.text).all("script")  # it works without JavaScript
    # Signed out: the header offers to sign in, and nobody is named.
    assert 'data-testid="signed-in-as"' not in response.text


def test_the_landing_page_names_the_signed_in_person_escaped(make_client: Any) -> None:
    client = make_client()
    sign_in(client, login="mallory", name='<script>alert("x")</script>')
    response = client.get("/")
    assert response.status_code == 200
    assert "<script>alert" not in response.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in response.text
    assert "Signed in as mallory." in response.text
    assert 'action="/logout"' in response.text
    assert_no_inline_code(response.text)


def test_an_ended_session_is_simply_signed_out(make_client: Any) -> None:
    client = make_client()
    client.cookies.set("gos_session", "gss_" + "x" * 43)
    response = client.get("/")
    assert response.status_code == 200
    assert "Signed in as" not in response.text
    assert client.get("/console").headers["location"] == "/login?next=/console"


@pytest.mark.parametrize("path", ["/", "/login", "/console"])
def test_odd_cookies_count_as_none(make_client: Any, path: str) -> None:
    client = make_client()
    client.cookies.set("gos_session", "gss_" + "x" * 500)
    client.cookies.set("gos_next", "console" * 50)
    response = client.get(path)
    assert response.status_code in (200, 303)
    assert "Signed in as" not in response.text


def test_login_offers_github_when_configured(make_client: Any) -> None:
    client = make_client(**GITHUB)
    response = client.get("/login")
    assert response.status_code == 200
    assert_page_headers(response)
    assert_no_inline_code(response.text)
    buttons = [a for a in tags(response.text).all("a") if a.get("data-testid") == "github-login"]
    assert [a["href"] for a in buttons] == ["/v1/auth/github/login"]
    assert ">Sign in with GitHub<" in response.text
    assert GITHUB["github_client_secret"] not in response.text
    assert GITHUB["github_client_id"] not in response.text


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({}, "GitHub sign-in is not configured on this deployment"),
        (
            {**GITHUB, "disabled_features": "oauth_login"},
            "Sign-in is switched off on this deployment",
        ),
    ],
)
def test_login_says_why_sign_in_is_not_offered(
    make_client: Any, overrides: dict[str, Any], message: str
) -> None:
    client = make_client(**overrides)
    response = client.get("/login")
    assert response.status_code == 200
    assert message in response.text
    assert "Sign in with GitHub" not in response.text
    assert 'href="/console/key"' in response.text  # the way in with a key remains
    # And the route that starts a sign-in agrees.
    assert client.get("/v1/auth/github/login").json()["error"]["code"] == "feature_disabled"


def test_login_sends_a_signed_in_person_on(make_client: Any) -> None:
    client = make_client(**GITHUB)
    sign_in(client)
    assert client.get("/login").headers["location"] == "/"
    assert client.get("/login?next=/console").headers["location"] == "/console"


def test_the_console_needs_a_session_and_comes_back_after_sign_in(make_client: Any) -> None:
    client = make_client(**GITHUB)
    response = client.get("/console")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/console"
    login = client.get(response.headers["location"])
    assert login.status_code == 200
    assert client.cookies.get("gos_next") == "console"
    next_cookie = next(h for h in login.headers.get_list("set-cookie") if h.startswith("gos_next"))
    assert "httponly" in next_cookie.lower() and "samesite=lax" in next_cookie.lower()
    # GitHub's callback sends the person to "/", which forwards them to the console, once.
    sign_in(client)
    back = client.get("/")
    assert back.status_code == 303
    assert back.headers["location"] == "/console"
    assert "gos_next" not in client.cookies
    assert client.get("/").status_code == 200
    console = client.get("/console")
    assert console.status_code == 200
    assert_page_headers(console)
    assert_no_inline_code(console.text)
    root = next(a for a in tags(console.text).all("div") if a.get("id") == "console")
    assert root["data-mode"] == "session"
    assert 'data-testid="signed-in-as">The Octocat<' in console.text


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example", "/v1/orgs", "/console/../x"]
)
def test_login_sends_back_only_to_known_pages(make_client: Any, target: str) -> None:
    client = make_client(**GITHUB)
    response = client.get("/login", params={"next": target})
    assert response.status_code == 200
    assert "gos_next" not in client.cookies
    # A forged cookie is ignored too.
    sign_in(client)
    for forged in (target, "/console", "evil"):
        client.cookies.set("gos_next", forged)
        assert client.get("/").status_code == 200


def test_the_console_with_a_key_needs_no_session_and_holds_no_key(make_client: Any) -> None:
    client = make_client()
    response = client.get("/console/key")
    assert response.status_code == 200
    assert_page_headers(response)
    assert_no_inline_code(response.text)
    key_input = next(a for a in tags(response.text).all("input") if a.get("id") == "key")
    assert key_input["type"] == "password"
    assert key_input["autocomplete"] == "off"


def test_the_console_says_when_queries_are_switched_off(make_client: Any) -> None:
    client = make_client(disabled_features="query")
    sign_in(client)
    response = client.get("/console")
    assert 'data-query-enabled="false"' in response.text
    assert "Queries are switched off on this deployment" in response.text


def test_sign_out_ends_the_session(make_client: Any) -> None:
    client = make_client()
    sign_in(client)
    assert client.get("/v1/me").status_code == 200
    token = client.cookies["gos_session"]
    response = client.post("/logout", headers={"Origin": "http://testserver"})
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cleared = next(h for h in response.headers.get_list("set-cookie") if "gos_session=" in h)
    assert "max-age=0" in cleared.lower()
    client.cookies.set("gos_session", token)  # the old cookie no longer works
    assert client.get("/v1/me").json()["error"]["code"] == "invalid_session"


def test_sign_out_from_another_site_is_refused(make_client: Any) -> None:
    client = make_client()
    sign_in(client)
    response = client.post("/logout", headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "cross_site_request"
    assert client.get("/v1/me").status_code == 200


def test_static_files_carry_their_hash_and_nosniff(make_client: Any) -> None:
    client = make_client()
    sign_in(client)
    html = client.get("/console").text
    urls = [a["src"] for a in tags(html).all("script")] + [
        a["href"] for a in tags(html).all("link") if a.get("rel") == "stylesheet"
    ]
    assert len(urls) == 2
    for url in urls:
        assert url is not None
        match = re.fullmatch(r"/static/pages/([a-z]+\.(?:js|css))\?v=([0-9a-f]{12})", url)
        assert match, url
        name, digest = match.groups()
        content = (STATIC_DIR / name).read_bytes()
        assert hashlib.sha256(content).hexdigest()[:12] == digest
        response = client.get(url)
        assert response.status_code == 200
        assert response.content == content
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-cache"
    assert (
        client.get("/static/pages/console.js").headers["content-type"].startswith("text/javascript")
    )
    assert client.get("/static/pages/../templates/base.html").status_code == 404


def test_the_pages_are_not_in_the_openapi_document(make_client: Any) -> None:
    paths = make_client().get("/openapi.json").json()["paths"]
    for path in ("/", "/login", "/logout", "/console", "/console/key", "/llms.txt"):
        assert path not in paths
