"""Helpers of the campaign tests: a project with an admin principal, campaigns made through
the store, and events sent through the Ingestor into a Delta lake on disk."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from growthos_pipeline.campaigns import store
from growthos_pipeline.campaigns.config import CampaignCreate
from growthos_pipeline.catalog import keys, orgs
from growthos_pipeline.catalog.access import Principal
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.events.validate import IngestContext, build_event
from growthos_pipeline.ingest.accept import Ingestor
from growthos_pipeline.settings import Settings

MINUTE_US = 60_000_000


def now_us() -> int:
    return time.time_ns() // 1000


@dataclass
class Project:
    catalog: Catalog
    settings: Settings
    id: str
    admin: Principal
    public_key: str

    def campaign(self, key: str, kind: str, config: dict[str, Any], **fields: Any) -> Any:
        values = {"key": key, "type": kind, "name": key, "status": "active", "config": config}
        body = CampaignCreate.model_validate(values | fields)
        return store.create_campaign(self.catalog, self.admin, self.id, body)


def project(catalog: Catalog, settings: Settings, name: str = "Web") -> Project:
    boot = orgs.bootstrap(catalog, settings, org_name=f"Org {name}", project_name=name)
    admin = keys.authenticate(catalog, settings, boot["secret_key"])
    return Project(catalog, settings, boot["project_id"], admin, boot["public_key"])


def ingest(settings: Settings, project_id: str, items: list[dict[str, Any]]) -> int:
    """Send events (keyword arguments of ``build_event``, plus ``country``) through the
    Ingestor into the lake, flushed."""
    events = []
    for item in items:
        fields = dict(item)
        ctx = IngestContext(
            project_id=project_id, received_at=now_us(), country=fields.pop("country", None)
        )
        events.append(build_event(ctx, **fields))
    ingestor = Ingestor(settings)
    ingestor.start()
    try:
        ingestor.accept_sync(events)
        ingestor.flush_now()
    finally:
        ingestor.stop()
    return len(events)
