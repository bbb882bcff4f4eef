"""Webhook endpoints and deliveries in the catalog, on SQLite and on PostgreSQL: a change
enqueues a delivery in its own transaction, a due delivery is claimed once, and the log
records each attempt."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from growthos_pipeline.catalog import keys, orgs, projects
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.models import ProjectDelete
from growthos_pipeline.catalog.tables import (
    utcnow,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
)
from growthos_pipeline.errors import BadRequest, NotFound
from growthos_pipeline.experiments import store, webhooks
from growthos_pipeline.experiments.config import ExperimentCreate, ExperimentUpdate
from growthos_pipeline.settings import Settings
from tests.api.webhook_receiver import receiver


def test_changes_are_delivered_once_and_logged(
    any_catalog: Catalog, any_settings: Settings
) -> None:
    settings = any_settings.model_copy(update={"webhooks_allow_private": True})
    boot = orgs.bootstrap(any_catalog, settings, org_name="Acme", project_name="Web")
    sk = keys.authenticate(any_catalog, settings, boot["secret_key"])
    pid = boot["project_id"]
    with receiver() as hook:
        body = webhooks.WebhookCreate(url=f"{hook.url}/in")
        endpoint = webhooks.create_endpoint(any_catalog, settings, sk, pid, body)
        experiment = ExperimentCreate.model_validate(
            {"key": "cta", "variations": [{"value": 1}, {"value": 2}]}
        )
        store.create_experiment(any_catalog, sk, pid, experiment)
        store.update_experiment(any_catalog, sk, pid, "cta", ExperimentUpdate(coverage=0.5))
        store.delete_experiment(any_catalog, sk, pid, "cta")

        assert webhooks.deliver_due(any_catalog, settings) == 3
        assert webhooks.deliver_due(any_catalog, settings, now=utcnow() + timedelta(days=1)) == 0
        received = hook.wait_for(3)
    verify = Webhook(endpoint["secret"]).verify
    events = [verify(r.body, r.headers) for r in received]
    assert [e["type"] for e in events] == [
        "experiment.created",
        "experiment.updated",
        "experiment.deleted",
    ]
    assert events[1]["data"]["experiment"]["coverage"] == 0.5
    assert events[2]["data"]["experiment"]["deleted"] is True
    log = webhooks.list_attempts(any_catalog, sk, pid, endpoint["id"], cursor=None, limit=2)
    assert [a["status_code"] for a in log.data] == [200, 200] and log.has_more

    listed = webhooks.list_endpoints(any_catalog, sk, pid, cursor=None, limit=10)
    assert [e["id"] for e in listed.data] == [endpoint["id"]]
    assert "secret" not in listed.data[0]
    webhooks.delete_endpoint(any_catalog, sk, pid, endpoint["id"])
    with pytest.raises(NotFound):
        webhooks.get_endpoint(any_catalog, sk, pid, endpoint["id"])


def test_a_refused_url_stores_nothing(any_catalog: Catalog, any_settings: Settings) -> None:
    boot = orgs.bootstrap(any_catalog, any_settings, org_name="Acme", project_name="Web")
    sk = keys.authenticate(any_catalog, any_settings, boot["secret_key"])
    with pytest.raises(BadRequest) as refused:
        webhooks.create_endpoint(
            any_catalog,
            any_settings,
            sk,
            boot["project_id"],
            webhooks.WebhookCreate(url="http://10.1.2.3/hook"),
        )
    assert refused.value.code == "webhook_url_forbidden"
    page = webhooks.list_endpoints(any_catalog, sk, boot["project_id"], cursor=None, limit=10)
    assert page.data == []


def test_deleting_the_project_deletes_its_webhooks(
    any_catalog: Catalog, any_settings: Settings
) -> None:
    settings = any_settings.model_copy(update={"webhooks_allow_private": True})
    boot = orgs.bootstrap(any_catalog, settings, org_name="Acme", project_name="Web")
    ak = keys.authenticate(any_catalog, settings, boot["admin_key"])
    pid = boot["project_id"]
    endpoint = webhooks.create_endpoint(
        any_catalog, settings, ak, pid, webhooks.WebhookCreate(url="http://127.0.0.1:9/hook")
    )
    webhooks.send_test(any_catalog, ak, pid, endpoint["id"])
    assert webhooks.deliver_due(any_catalog, settings) == 1  # refused connection: logged
    projects.delete_project(
        any_catalog, ak, pid, ProjectDelete(project_name="Web", project_name_confirm="Web")
    )
    with any_catalog.connect() as conn:
        for table in (webhook_endpoints, webhook_deliveries, webhook_attempts):
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0
