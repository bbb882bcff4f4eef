"""The browser SDK and the web components as the API serves them (``/public/...``), the
committed build against its sources, and CORS on the endpoints web pages call."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.routes.public_assets import ASSETS, CACHE_CONTROL_PINNED, STATIC_DIR
from tests.conftest import auth

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "js"


@pytest.mark.parametrize("name", ASSETS)
def test_served_with_type_validators_and_long_caching(client: TestClient, name: str) -> None:
    response = client.get(f"/public/{name}", headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.content == (STATIC_DIR / name).read_bytes()
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["access-control-allow-origin"] == "*"  # ES module imports
    max_age = int(response.headers["cache-control"].split("max-age=")[1].split(",")[0])
    assert max_age >= 86400
    etag = response.headers["etag"]
    assert etag == f'"{hashlib.sha256(response.content).hexdigest()[:20]}"'

    again = client.get(f"/public/{name}", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""

    version = etag.strip('"')
    pinned = client.get(f"/public/{name}?v={version}", headers={"Accept-Encoding": "identity"})
    assert pinned.headers["cache-control"] == CACHE_CONTROL_PINNED
    stale = client.get(f"/public/{name}?v=0000", headers={"Accept-Encoding": "identity"})
    assert "immutable" not in stale.headers["cache-control"]


def test_gzip_for_clients_that_accept_it(client: TestClient) -> None:
    response = client.get("/public/growthos.js", headers={"Accept-Encoding": "gzip, br"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["etag"].endswith('-gz"')
    # httpx decodes the body; the bytes on the wire were smaller.
    assert response.content == (STATIC_DIR / "growthos.js").read_bytes()
    assert len(gzip.compress(response.content)) < len(response.content) / 2
    head = client.head("/public/growthos.js")
    assert head.status_code == 200


def test_only_the_assets_are_served(client: TestClient) -> None:
    for path in ("/public/../app.py", "/public/pages", "/public/x.js", "/public/growthos.js.map"):
        response = client.get(path)
        assert response.status_code == 404, path
    response = client.get("/public/nope.js")
    assert response.json()["error"]["code"] == "asset_not_found"


def test_the_assets_are_package_data() -> None:
    """``pip install`` ships the built files (no npm at install time)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["api"]
    for name in ASSETS:
        assert any(fnmatch(f"static/{name}", pattern) for pattern in patterns), name


def source_digest() -> str:
    """The digest js/build.mjs writes into each file's banner (the same recipe)."""
    sources = [*(p for p in (JS / "src").rglob("*") if p.is_file())]
    sources += [JS / "build.mjs", JS / "package.json", JS / "package-lock.json"]
    named = sorted((p.relative_to(JS).as_posix(), p) for p in sources)
    digest = hashlib.sha256()
    for name, path in named:
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@pytest.mark.parametrize("name", ASSETS)
def test_the_committed_build_is_built_from_the_current_sources(name: str) -> None:
    """Each built file names the digest of the sources it was built from: a change in js/
    without `npm run build` fails here, npm or not."""
    banner = (STATIC_DIR / name).read_text().split("\n", 1)[0]
    assert f"sources sha256:{source_digest()}" in banner, (
        f"api/static/{name} is older than js/: run `npm ci && npm run build` in js/"
    )


@pytest.mark.skipif(
    shutil.which("node") is None or not (JS / "node_modules" / "esbuild").is_dir(),
    reason="needs node and js/node_modules (npm ci in js/)",
)
def test_a_fresh_build_equals_the_committed_one() -> None:
    result = subprocess.run(
        ["node", "build.mjs", "--check"], cwd=JS, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_browser_endpoints_answer_cors_preflights(client: TestClient) -> None:
    preflight = client.options(
        "/v1/track",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-api-key",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "x-api-key" in preflight.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in preflight.headers
    for path in ("/v1/identify", "/v1/page", "/v1/group", "/track", "/v1/campaigns/launch"):
        answer = client.options(
            path,
            headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
        )
        assert answer.headers.get("access-control-allow-origin") == "*", path


def test_browser_answers_expose_retry_after_and_errors_are_readable(
    client: TestClient, keys: dict[str, str]
) -> None:
    sent = client.post(
        "/v1/track",
        json={"events": [{"event_type": "a", "device_id": "d"}]},
        headers={**auth(keys["public_key"]), "Origin": "https://shop.example"},
    )
    assert sent.status_code == 200
    assert sent.headers["access-control-allow-origin"] == "*"
    assert "retry-after" in sent.headers["access-control-expose-headers"].lower()
    refused = client.post(
        "/v1/track", json={"events": []}, headers={"Origin": "https://shop.example"}
    )
    assert refused.status_code == 401  # the page can read why
    assert refused.headers["access-control-allow-origin"] == "*"


def test_management_endpoints_get_no_cors(client: TestClient, keys: dict[str, str]) -> None:
    answer = client.options(
        f"/v1/projects/{keys['project_id']}/tokens",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in answer.headers
    listed = client.get(
        f"/v1/projects/{keys['project_id']}/tokens",
        headers={**auth(keys["secret_key"]), "Origin": "https://evil.example"},
    )
    assert "access-control-allow-origin" not in listed.headers


def test_text_plain_beacon_bodies_are_accepted(client: TestClient, keys: dict[str, str]) -> None:
    """``navigator.sendBeacon`` sends a string as text/plain with the key in the query."""
    response = client.post(
        f"/v1/track?key={keys['public_key']}",
        content=b'{"events": [{"event_type": "left", "device_id": "d1"}]}',
        headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": "https://shop.example"},
    )
    assert response.status_code == 200
    assert response.json()["accepted"] == 1
