"""The derived assets materialized by Dagster against a temporary data folder whose events
went through the Ingestor: identities, profiles, sessions, usage_daily and segment_members,
each with its checks, and the per-project schedules."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pytest

from dagster_project.defs.identities import identities, identities_schedule
from dagster_project.defs.profiles import profiles
from dagster_project.defs.segments import segment_members, segments_schedule
from dagster_project.defs.sessions import sessions
from dagster_project.defs.usage import usage_daily, usage_schedule
from dagster_project.resources import CatalogResource, LakeResource
from growthos_pipeline.catalog.access import Principal
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.orgs import bootstrap
from growthos_pipeline.lake.derived import read_table
from growthos_pipeline.profiles import get_profile
from growthos_pipeline.segments import SEGMENT_MEMBERS, SegmentCreate, create_segment
from growthos_pipeline.settings import Settings
from tests.derived.world import U1, ingest, story


@pytest.fixture
def project(settings: Settings, catalog: Catalog) -> str:
    project_id = bootstrap(catalog, settings, org_name="Acme", project_name="Web")["project_id"]
    ingest(settings, project_id, story())
    return project_id


@pytest.fixture
def instance(project: str) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("projects", [project])
        yield instance


def _resources(settings: Settings) -> dict[str, Any]:
    data_dir = str(settings.data_dir)
    return {
        "lake": LakeResource(data_dir=data_dir),
        "catalog": CatalogResource(data_dir=data_dir, database_url=settings.database_url or None),
    }


def _run(
    asset: Any, settings: Settings, instance: dg.DagsterInstance, project: str
) -> tuple[dict[str, Any], dict[str, bool]]:
    result = dg.materialize(
        [asset], partition_key=project, instance=instance, resources=_resources(settings)
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node(asset.key.path[-1])
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    return {k: v.value for k, v in materialization.metadata.items()}, checks


def test_every_derived_asset_materializes_with_passing_checks(
    settings: Settings, catalog: Catalog, instance: dg.DagsterInstance, project: str
) -> None:
    admin = Principal(
        kind="admin",
        id="key_test",
        org_id=None,
        project_id=None,
        scopes=frozenset({"admin"}),
        plan="free",
        admin_org_ids=frozenset({_org(catalog, project)}),
    )
    segment = create_segment(
        catalog, admin, project, SegmentCreate(name="Buyers", filter='event_type = "purchase"')
    )

    metadata, checks = _run(identities, settings, instance, project)
    assert metadata["devices"] == 3 and checks == {"one_row_per_device": True}
    metadata, checks = _run(profiles, settings, instance, project)
    assert metadata["users"] == 2
    assert checks == {"one_row_per_user": True, "properties_are_json_objects": True}
    assert get_profile(settings, project, "u1")["properties"] == U1  # type: ignore[index]
    metadata, checks = _run(sessions, settings, instance, project)
    assert metadata["sessions"] >= 3 and checks == {"ends_after_start": True}
    metadata, checks = _run(usage_daily, settings, instance, project)
    assert metadata["days"] == 1 and metadata["events_ingested"] >= 7
    assert checks == {"counts_valid": True}
    metadata, checks = _run(segment_members, settings, instance, project)
    assert metadata["members"] == 1 and checks == {"members_belong_to_project": True}
    members = read_table(settings, SEGMENT_MEMBERS, project)
    assert members.select("segment_id", "user_id").rows() == [(segment["id"], "u1")]


def _org(catalog: Catalog, project: str) -> str:
    from sqlalchemy import select

    from growthos_pipeline.catalog.tables import projects

    with catalog.connect() as conn:
        return str(
            conn.execute(select(projects.c.org_id).where(projects.c.id == project)).scalar_one()
        )


AT = datetime(2026, 3, 11, 9, 15, tzinfo=UTC)


def test_schedules_request_one_run_per_project() -> None:
    # a Dagster instance on a temporary folder (a schedule context needs its reference)
    with dg.instance_for_test() as stored:
        for schedule in (identities_schedule, segments_schedule, usage_schedule):
            with dg.build_schedule_context(instance=stored, scheduled_execution_time=AT) as context:
                (skip,) = list(schedule(context))
            assert isinstance(skip, dg.SkipReason)  # the project sensor has not run yet
        stored.add_dynamic_partitions("projects", ["p2", "p1"])
        for schedule in (identities_schedule, segments_schedule, usage_schedule):
            with dg.build_schedule_context(instance=stored, scheduled_execution_time=AT) as context:
                requests = list(schedule(context))
            assert [r.partition_key for r in requests] == ["p1", "p2"]
            assert len({r.run_key for r in requests}) == 2
    assert identities_schedule.cron_schedule == "*/15 * * * *"
    assert usage_schedule.cron_schedule == "15 0 * * *"


def test_every_derived_asset_has_a_freshness_policy() -> None:
    for asset in (identities, profiles, sessions, usage_daily, segment_members):
        spec = next(iter(asset.specs))
        assert spec.freshness_policy is not None, asset.key
