"""The project partitions follow the catalog: a sensor adds new projects and removes deleted
ones."""

from __future__ import annotations

import dagster as dg
from sqlalchemy import select

from dagster_project.partitions import projects
from dagster_project.resources import CatalogResource
from growthos_pipeline.catalog.tables import projects as projects_table


def catalog_project_ids(catalog: CatalogResource) -> list[str]:
    with catalog.open().connect() as conn:
        return sorted(conn.execute(select(projects_table.c.id)).scalars().all())


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def project_partitions_sensor(
    context: dg.SensorEvaluationContext, catalog: CatalogResource
) -> dg.SensorResult:
    """Keep the ``projects`` dynamic partitions equal to the catalog's projects."""
    wanted = set(catalog_project_ids(catalog))
    known = set(context.instance.get_dynamic_partitions(projects.name or "projects"))
    requests = []
    if wanted - known:
        requests.append(projects.build_add_request(sorted(wanted - known)))
    if known - wanted:
        requests.append(projects.build_delete_request(sorted(known - wanted)))
    return dg.SensorResult(dynamic_partitions_requests=requests)


defs = dg.Definitions(sensors=[project_partitions_sensor])
