"""Webhooks of a project: endpoints that receive every change of its experiments and
features, signed the Standard Webhooks way. Every route needs the ``admin`` scope.

The ``secret`` (``whsec_...``) is in the creation answer only. A URL whose host resolves to a
loopback, private, link-local or metadata address answers ``400 webhook_url_forbidden``.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import (
    DEFAULT_PAGE_SIZE,
    CatalogDep,
    Cursor,
    Limit,
    ManagementPrincipal,
    SettingsDep,
)
from api.deps import require_feature as require_deployment_feature
from api.schemas import Page, error_responses
from growthos_pipeline.experiments import webhooks
from growthos_pipeline.experiments.webhooks import WebhookCreate

router = APIRouter(
    prefix="/projects/{project_id}/webhooks",
    tags=["webhooks"],
    dependencies=[require_deployment_feature("experiments")],
    responses=error_responses(401, 403, 404, 422, 429, 503),
)


class Webhook(BaseModel):
    id: str
    project_id: str
    url: str
    description: str | None
    created_at: datetime


class WebhookCreated(Webhook):
    #: The signing secret, shown in this answer only.
    secret: str


class WebhookDeleted(Webhook):
    deleted: bool


class WebhookTestQueued(BaseModel):
    id: str
    event_type: str
    status: str
    attempts: int
    created_at: datetime


class WebhookAttempt(BaseModel):
    id: str
    delivery_id: str
    event_type: str
    delivery_status: str
    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: int
    next_attempt_at: datetime | None
    created_at: datetime


@router.post("", name="create_webhook", status_code=201, responses=error_responses(400))
def create_webhook(
    principal: ManagementPrincipal,
    project_id: str,
    body: WebhookCreate,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> WebhookCreated:
    """Register an endpoint; the answer holds its signing secret, shown this once."""
    return WebhookCreated.model_validate(
        webhooks.create_endpoint(catalog, settings, principal, project_id, body)
    )


@router.get("", name="list_webhooks")
def list_webhooks(
    principal: ManagementPrincipal,
    project_id: str,
    catalog: CatalogDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Page[Webhook]:
    page = webhooks.list_endpoints(catalog, principal, project_id, cursor=cursor, limit=limit)
    return Page[Webhook].model_validate(page, from_attributes=True)


@router.get("/{webhook_id}", name="get_webhook")
def get_webhook(
    principal: ManagementPrincipal, project_id: str, webhook_id: str, catalog: CatalogDep
) -> Webhook:
    return Webhook.model_validate(webhooks.get_endpoint(catalog, principal, project_id, webhook_id))


@router.delete("/{webhook_id}", name="delete_webhook")
def delete_webhook(
    principal: ManagementPrincipal, project_id: str, webhook_id: str, catalog: CatalogDep
) -> WebhookDeleted:
    """Delete an endpoint with its pending deliveries and its log."""
    return WebhookDeleted.model_validate(
        webhooks.delete_endpoint(catalog, principal, project_id, webhook_id)
    )


@router.post("/{webhook_id}/test", name="test_webhook", status_code=202)
def test_webhook(
    principal: ManagementPrincipal, project_id: str, webhook_id: str, catalog: CatalogDep
) -> WebhookTestQueued:
    """Queue a ``webhook.test`` message (a ping) to the endpoint."""
    return WebhookTestQueued.model_validate(
        webhooks.send_test(catalog, principal, project_id, webhook_id)
    )


@router.get("/{webhook_id}/deliveries", name="list_webhook_deliveries")
def list_webhook_deliveries(
    principal: ManagementPrincipal,
    project_id: str,
    webhook_id: str,
    catalog: CatalogDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Page[WebhookAttempt]:
    """The delivery log: one entry per attempt (status code, error, duration, next attempt)."""
    page = webhooks.list_attempts(
        catalog, principal, project_id, webhook_id, cursor=cursor, limit=limit
    )
    return Page[WebhookAttempt].model_validate(page, from_attributes=True)
