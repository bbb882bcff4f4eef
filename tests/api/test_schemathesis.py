"""Property-based run of schemathesis over the app's own OpenAPI document: no operation, fed
anything its schema allows (and the coverage phase's near-misses), answers a server error.

Every example presents a valid credential chosen for its operation (an ak_ for /admin, /orgs
and /me, an sk_ for /projects); half of the examples point the path parameters at the real
org, project and token, the other half keep the generated ids. The examples run against one
app, and some of them rotate keys or delete the project: before each example the tenant is
bootstrapped again (idempotent by name), which issues fresh keys and recreates a deleted
project, so every example starts with credentials that work.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from api.app import create_app
from growthos_pipeline.catalog import keys as catalog_keys
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.orgs import bootstrap
from growthos_pipeline.catalog.tables import utcnow
from growthos_pipeline.settings import Settings
from tests.conftest import MakeSettings

pytestmark = pytest.mark.slow


@dataclass
class Tenant:
    org_id: str
    project_id: str
    token_id: str
    admin_key: str
    secret_key: str


class FuzzEnv:
    """The app under test and a tenant whose credentials are renewed for every example."""

    def __init__(self, make_settings: MakeSettings) -> None:
        self.settings = make_settings(
            rate_limits_enabled=False,
            # Sign-in configured (so its routes answer 302/400, not 503 "not configured"),
            # against a provider address that refuses connections.
            github_client_id="fuzz-client",
            github_client_secret="fuzz-secret",
            github_token_url="http://127.0.0.1:9/token",
            github_api_url="http://127.0.0.1:9",
        )
        self.catalog = Catalog.open(self.settings)
        self.app = create_app(self.settings, catalog=self.catalog)
        self.statuses: dict[str, set[int]] = {}

    def fresh_tenant(self) -> Tenant:
        raw = bootstrap(self.catalog, self.settings, org_name="Acme", project_name="Web")
        with self.catalog.begin() as conn:
            _, token = catalog_keys.issue(
                conn,
                self.settings,
                "token",
                org_id=raw["org_id"],
                project_id=raw["project_id"],
                name="fuzz",
                scopes=["query"],
                expires_at=utcnow() + timedelta(hours=1),
            )
        return Tenant(
            org_id=raw["org_id"],
            project_id=raw["project_id"],
            token_id=token["id"],
            admin_key=raw["admin_key"],
            secret_key=raw["secret_key"],
        )


@pytest.fixture
def fuzz_env(make_settings: MakeSettings) -> Iterator[FuzzEnv]:
    env = FuzzEnv(make_settings)
    yield env
    env.catalog.dispose()


def _openapi_document() -> dict[str, Any]:
    """The document the app serves at /openapi.json (it does not depend on the data folder:
    a test below checks that the app under test serves the same one)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None,
            env="test",
            data_dir=Path(tmp) / "data",  # type: ignore[call-arg]
            secret_key="schema-secret-" + "x" * 40,
        )
        catalog = Catalog.open(settings)
        try:
            with TestClient(create_app(settings, catalog=catalog)) as client:
                response = client.get("/openapi.json")
                response.raise_for_status()
                document: dict[str, Any] = response.json()
                return document
        finally:
            catalog.dispose()


OPENAPI = _openapi_document()
# The schema is loaded once, at collection, so that every operation is its own test; each test
# sends its requests to a fresh app (``case.call(app=...)``) on a fresh data folder.
schema = schemathesis.openapi.from_dict(OPENAPI)


def credential_for(path: str, tenant: Tenant) -> dict[str, str]:
    """The key an operation's legitimate caller presents."""
    if path.startswith(("/v1/projects/", "/v1/gdpr/")):
        return {"X-API-Key": tenant.secret_key}
    if path.startswith(("/v1/admin", "/v1/orgs", "/v1/me")):
        return {"X-API-Key": tenant.admin_key}
    return {}  # /healthz, /readyz, /metrics and the sign-in flow need none


def test_the_app_under_test_serves_the_fuzzed_document(fuzz_env: FuzzEnv) -> None:
    with TestClient(fuzz_env.app) as client:
        assert client.get("/openapi.json").json() == OPENAPI
    assert len(list(schema.get_all_operations())) >= 30


@schema.parametrize()
@schema.given(real_ids=st.booleans())
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
def test_no_operation_answers_a_server_error(case: Any, real_ids: bool, fuzz_env: FuzzEnv) -> None:
    tenant = fuzz_env.fresh_tenant()
    if real_ids and case.path_parameters:
        real = {
            "project_id": tenant.project_id,
            "org_id": tenant.org_id,
            "token_id": tenant.token_id,
        }
        case.path_parameters = {
            name: real.get(name, value) for name, value in case.path_parameters.items()
        }
    response = case.call(app=fuzz_env.app, headers=credential_for(case.operation.path, tenant))
    label = f"{case.method.upper()} {case.operation.path}"
    fuzz_env.statuses.setdefault(label, set()).add(response.status_code)
    assert response.status_code < 500, (
        f"{label} answered {response.status_code}: {response.text[:500]}\n"
        f"reproduce with: {case.as_curl_command()}"
    )
