"""Property-based run of schemathesis over the public campaign operations, with a real public
key and, half of the time, the keys of real active campaigns of each type (and a real signup
id): whatever the OpenAPI document allows in a body, a query or a path, no answer is a server
error. (tests/api/test_schemathesis.py covers every operation, but without a public key.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from api.app import create_app
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.orgs import bootstrap
from tests.api.test_schemathesis import OPENAPI
from tests.conftest import MakeSettings

pytestmark = pytest.mark.slow

schema = schemathesis.openapi.from_dict(OPENAPI).include(path_regex=r"^/v1/campaigns/")

CAMPAIGNS: dict[str, dict[str, Any]] = {
    "waitlist": {"places_per_referral": 3},
    "referral": {"rewards": [{"name": "Mug", "threshold": 2}]},
    "survey": {
        "questions": [
            {"id": "score", "type": "rating", "prompt": "?", "min": 0, "max": 10},
            {"id": "pick", "type": "multiple", "prompt": "?", "options": ["a", "b"]},
            {"id": "why", "type": "text", "prompt": "?"},
        ],
        "targeting": {"filter": 'event_type = "purchase"'},
    },
    "social_proof": {"event_types": ["signup"], "min_events": 1},
}
#: The campaign a path points at, by a word in it.
BY_WORD = {
    "waitlist": "waitlist",
    "referrals": "referral",
    "leaderboard": "referral",
    "survey": "survey",
    "responses": "survey",
    "feed": "social_proof",
}


class Env:
    def __init__(self, make_settings: MakeSettings) -> None:
        self.settings = make_settings(rate_limits_enabled=False)
        self.catalog = Catalog.open(self.settings)
        self.keys = bootstrap(self.catalog, self.settings, org_name="Fuzz", project_name="Web")
        self.app = create_app(self.settings, catalog=self.catalog)
        self.client = TestClient(self.app)
        self.client.__enter__()
        sk = {"X-API-Key": self.keys["secret_key"]}
        for kind, config in CAMPAIGNS.items():
            made = self.client.post(
                f"/v1/projects/{self.keys['project_id']}/campaigns",
                headers=sk,
                json={
                    "key": kind,
                    "type": kind,
                    "name": kind,
                    "status": "active",
                    "config": config,
                },
            )
            assert made.status_code == 201, made.text
        signup = self.client.post(
            "/v1/campaigns/waitlist/waitlist",
            headers={"X-API-Key": self.keys["public_key"]},
            json={"email": "fuzz@example.com"},
        )
        self.signup_id = signup.json()["signup_id"]

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.catalog.dispose()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    from growthos_pipeline.settings import Settings

    data_dir = tmp_path_factory.mktemp("campaign-fuzz") / "data"

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "env": "test",
            "data_dir": data_dir,
            "secret_key": "fuzz-secret-" + "x" * 40,
            "webhooks_worker_enabled": False,
        } | overrides
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    running = Env(make)
    yield running
    running.close()


def _campaign(path: str) -> str:
    for word in path.split("/"):
        if word in BY_WORD:
            return BY_WORD[word]
    return "waitlist"


def test_the_public_operations_are_fuzzed() -> None:
    assert len(list(schema.get_all_operations())) == 9


@schema.parametrize()
@schema.given(real_ids=st.booleans())
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_public_campaign_operation_answers_a_server_error(
    case: Any, real_ids: bool, env: Env
) -> None:
    if real_ids:
        real = {"campaign_key": _campaign(case.operation.path), "signup_id": env.signup_id}
        case.path_parameters = {
            name: real.get(name, value) for name, value in (case.path_parameters or {}).items()
        }
    response = case.call(app=env.app, headers={"X-API-Key": env.keys["public_key"]})
    label = f"{case.method.upper()} {case.operation.path}"
    assert response.status_code < 500, (
        f"{label} answered {response.status_code}: {response.text[:500]}\n"
        f"reproduce with: {case.as_curl_command()}"
    )
