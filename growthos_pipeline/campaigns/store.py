"""Campaigns in the catalog: create, list, get, update, delete, and the active campaign a
public key names.

Writes need the ``admin`` scope (or an org admin), reads ``query`` or ``admin``. Management
paths name a campaign by its id or its key; public endpoints by its key, within the project of
the key they present. Keys are unique in a project (``409 campaign_key_taken``).

Examples
--------
>>> import tempfile
>>> from growthos_pipeline.campaigns.config import CampaignCreate, CampaignUpdate
>>> from growthos_pipeline.catalog import keys, orgs
>>> from growthos_pipeline.settings import Settings
>>> settings = Settings(data_dir=tempfile.mkdtemp())
>>> catalog = Catalog.open(settings)
>>> boot = orgs.bootstrap(catalog, settings, org_name="Acme", project_name="Web")
>>> admin = keys.authenticate(catalog, settings, boot["secret_key"])
>>> project = boot["project_id"]
>>> made = create_campaign(catalog, admin, project, CampaignCreate(key="beta", type="waitlist",
...                        name="Beta", config={"title": "Join the beta"}))
>>> made["status"], made["config"]["places_per_referral"]
('draft', 5)
>>> try:
...     public_campaign(catalog, project, "beta")
... except NotFound as err:
...     print(err.code)
campaign_not_found
>>> _ = update_campaign(catalog, admin, project, "beta", CampaignUpdate(status="active"))
>>> public_campaign(catalog, project, "beta")["config"]["title"]
'Join the beta'
>>> catalog.dispose()
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from growthos_pipeline.campaigns import targeting
from growthos_pipeline.campaigns.config import (
    CampaignCreate,
    CampaignUpdate,
    parse_config,
    public_config,
)
from growthos_pipeline.catalog import audit
from growthos_pipeline.catalog.access import Principal, require_project, require_project_read
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.pagination import Page, paginate
from growthos_pipeline.catalog.tables import campaigns, utcnow
from growthos_pipeline.errors import BadRequest, Conflict, NotFound
from growthos_pipeline.ids import new_id


@dataclass(frozen=True)
class Campaign:
    """A campaign row with its configuration validated for its type."""

    id: str
    project_id: str
    key: str
    type: str
    name: str
    status: str
    config: Any
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Campaign:
        return cls(
            id=row["id"],
            project_id=row["project_id"],
            key=row["key"],
            type=row["type"],
            name=row["name"],
            status=row["status"],
            config=parse_config(row["type"], dict(row["config"])),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


def view(row: Any) -> dict[str, Any]:
    """A campaign as the management API shows it."""
    return {
        k: row[k]
        for k in (
            "id",
            "project_id",
            "key",
            "type",
            "name",
            "status",
            "config",
            "created_at",
            "updated_at",
        )
    }


def public_view(campaign: Campaign) -> dict[str, Any]:
    """A campaign as public clients see it: no ids, only the public part of its config."""
    return {
        "key": campaign.key,
        "type": campaign.type,
        "name": campaign.name,
        "status": campaign.status,
        "config": public_config(campaign.type, campaign.config),
    }


def campaign_row(conn: Connection, project_id: str, ref: str) -> dict[str, Any]:
    """The campaign named by id, else by key, in ``project_id``; ``404 campaign_not_found``."""
    for column in (campaigns.c.id, campaigns.c.key):
        row = (
            conn.execute(
                select(campaigns).where(campaigns.c.project_id == project_id, column == ref)
            )
            .mappings()
            .first()
        )
        if row is not None:
            return dict(row)
    raise NotFound("campaign_not_found", f"no campaign '{ref[:100]}' in this project")


def managed(
    conn: Connection, principal: Principal, project_id: str, ref: str, *, write: bool
) -> tuple[dict[str, Any], Campaign]:
    """The project row and the campaign, if the principal may read (``query`` or ``admin``)
    or, with ``write``, change (``admin``) it."""
    if write:
        project = require_project(conn, principal, project_id, "admin")
    else:
        project = require_project_read(conn, principal, project_id)
    return project, Campaign.from_row(campaign_row(conn, project_id, ref))


def _check(conn: Connection, project_id: str, campaign_type: str, config: dict[str, Any]) -> Any:
    model = parse_config(campaign_type, config)
    if campaign_type == "survey" and model.targeting is not None:
        targeting.validate(conn, project_id, model.targeting)
    return model


def create_campaign(
    catalog: Catalog, principal: Principal, project_id: str, body: CampaignCreate
) -> dict[str, Any]:
    """A new campaign (admin scope), its configuration validated for its type."""
    with catalog.begin() as conn:
        project = require_project(conn, principal, project_id, "admin")
        taken = conn.execute(
            select(campaigns.c.id).where(
                campaigns.c.project_id == project_id, campaigns.c.key == body.key
            )
        ).first()
        if taken is not None:
            raise Conflict(
                "campaign_key_taken", f"this project already has a campaign '{body.key}'"
            )
        model = _check(conn, project_id, body.type, body.config)
        now = utcnow()
        row = {
            "id": new_id("cmp"),
            "project_id": project_id,
            "key": body.key,
            "type": body.type,
            "name": body.name,
            "status": body.status,
            "config": model.model_dump(mode="json"),
            "created_at": now,
            "updated_at": now,
        }
        try:
            with conn.begin_nested():
                conn.execute(insert(campaigns).values(**row))
        except IntegrityError:
            raise Conflict(
                "campaign_key_taken", f"this project already has a campaign '{body.key}'"
            ) from None
        audit.record(
            conn,
            principal,
            "campaign.create",
            org_id=str(project["org_id"]),
            project_id=project_id,
            target=str(row["id"]),
            details={"key": body.key, "type": body.type},
        )
    return view(row)


def list_campaigns(
    catalog: Catalog, principal: Principal, project_id: str, *, cursor: str | None, limit: int
) -> Page[dict[str, Any]]:
    with catalog.connect() as conn:
        require_project_read(conn, principal, project_id)
        return paginate(
            conn,
            select(campaigns).where(campaigns.c.project_id == project_id),
            campaigns.c.id,
            cursor=cursor,
            limit=limit,
            convert=view,
        )


def get_campaign(
    catalog: Catalog, principal: Principal, project_id: str, ref: str
) -> dict[str, Any]:
    with catalog.connect() as conn:
        require_project_read(conn, principal, project_id)
        return view(campaign_row(conn, project_id, ref))


def update_campaign(
    catalog: Catalog, principal: Principal, project_id: str, ref: str, body: CampaignUpdate
) -> dict[str, Any]:
    """Change what ``body`` sets; ``config`` fields replace the same fields of the current
    configuration and the result is validated again."""
    changes = body.model_dump(exclude_unset=True)
    for name in ("name", "status", "config"):
        if name in changes and changes[name] is None:
            raise BadRequest(
                "invalid_campaign", f"'{name}' cannot be null", details=[{"field": name}]
            )
    with catalog.begin() as conn:
        project = require_project(conn, principal, project_id, "admin")
        row = campaign_row(conn, project_id, ref)
        values: dict[str, Any] = {k: changes[k] for k in ("name", "status") if k in changes}
        if "config" in changes:
            merged = {**row["config"], **changes["config"]}
            values["config"] = _check(conn, project_id, row["type"], merged).model_dump(mode="json")
        values["updated_at"] = utcnow()
        conn.execute(update(campaigns).where(campaigns.c.id == row["id"]).values(**values))
        audit.record(
            conn,
            principal,
            "campaign.update",
            org_id=str(project["org_id"]),
            project_id=project_id,
            target=str(row["id"]),
            details={"fields": sorted(changes)},
        )
    return view(row | values)


def delete_campaign(
    catalog: Catalog, principal: Principal, project_id: str, ref: str
) -> dict[str, Any]:
    """Delete a campaign with its signups, codes and attributions (survey answers stay in the
    lake as events)."""
    with catalog.begin() as conn:
        project = require_project(conn, principal, project_id, "admin")
        row = campaign_row(conn, project_id, ref)
        conn.execute(delete(campaigns).where(campaigns.c.id == row["id"]))
        audit.record(
            conn,
            principal,
            "campaign.delete",
            org_id=str(project["org_id"]),
            project_id=project_id,
            target=str(row["id"]),
            details={"key": row["key"]},
        )
    return {**view(row), "deleted": True}


# ---- what public clients read -------------------------------------------------------------


def active_campaign(
    conn: Connection, project_id: str, key: str, campaign_type: str | None = None
) -> Campaign:
    """The active campaign ``key`` of ``project_id`` (of ``campaign_type`` when given).

    Unknown or not active: ``404 campaign_not_found``; another type: ``404
    campaign_type_mismatch`` (the endpoint does not exist for it)."""
    row = (
        conn.execute(
            select(campaigns).where(campaigns.c.project_id == project_id, campaigns.c.key == key)
        )
        .mappings()
        .first()
    )
    if row is None or row["status"] != "active":
        raise NotFound("campaign_not_found", f"no active campaign '{key[:64]}' for this key")
    if campaign_type is not None and row["type"] != campaign_type:
        raise NotFound(
            "campaign_type_mismatch",
            f"campaign '{key}' is a {row['type']} campaign, not a {campaign_type} one",
        )
    return Campaign.from_row(row)


def public_campaign(catalog: Catalog, project_id: str, key: str) -> dict[str, Any]:
    """What ``GET /v1/campaigns/{key}`` answers."""
    with catalog.connect() as conn:
        return public_view(active_campaign(conn, project_id, key))
