"""Deleting a project: the catalog rows, then every row it has in the lake.

The catalog deletion comes first (its keys stop working at once, so no new event can
arrive), then the lake erasure (which also drops the project's events still waiting in any
write-ahead log when they are flushed).
"""

from __future__ import annotations

from typing import Any

from growthos_pipeline.catalog import audit, projects
from growthos_pipeline.catalog.access import Principal
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.models import ProjectDelete
from growthos_pipeline.lake.erase import erase_project
from growthos_pipeline.settings import Settings


def delete_project(
    catalog: Catalog,
    settings: Settings,
    principal: Principal,
    project_id: str,
    body: ProjectDelete,
    *,
    org_id: str | None = None,
) -> dict[str, Any]:
    """Delete the project and all its data (org admins; the name typed twice)."""
    result = projects.delete_project(catalog, principal, project_id, body, org_id=org_id)
    erased = erase_project(settings, project_id)
    with catalog.begin() as conn:
        audit.record(
            conn,
            principal,
            "project.erase_data",
            org_id=org_id or principal.org_id,
            project_id=project_id,
            target=project_id,
            details={"lake": erased},
        )
    return {**result, "lake": erased}
