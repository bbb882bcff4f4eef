"""The compaction asset, its check and schedule, and the maintenance job, run by Dagster
against a temporary data folder (real Delta tables, an ephemeral Dagster instance)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
import pytest
from sqlalchemy import update

from dagster_project.defs.compaction import (
    NO_DUPLICATES,
    events_compacted,
    hourly_compaction,
    lake_maintenance_job,
)
from dagster_project.resources import CatalogResource, LakeResource
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.tables import projects as projects_table
from growthos_pipeline.lake.read import read_events
from growthos_pipeline.settings import Settings
from tests.lake.test_compaction import DAY, append, many_small_files, partition_files, rows


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    """An in-memory Dagster instance that knows projects p1 and p2."""
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("projects", ["p1", "p2"])
        yield instance


def key(project: str, day: date) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"project": project, "date": day.isoformat()})


def materialize(
    settings: Settings, instance: dg.DagsterInstance, project: str, day: date
) -> tuple[dict[str, Any], dg.AssetCheckEvaluation]:
    result = dg.materialize(
        [events_compacted],
        partition_key=key(project, day),
        instance=instance,
        resources={"lake": LakeResource(data_dir=str(settings.data_dir))},
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node("events_compacted")
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == NO_DUPLICATES
    return {k: v.value for k, v in materialization.metadata.items()}, check


def test_materialize_compacts_one_partition(
    settings: Settings, instance: dg.DagsterInstance
) -> None:
    written, distinct = many_small_files(settings)
    append(settings, rows("p2", DAY, ["p2_1", "p2_2"]))

    metadata, check = materialize(settings, instance, "p1", DAY)

    assert metadata["duplicates_dropped"] == written - distinct == 20
    assert (metadata["files_before"], metadata["files_after"]) == (24, 1)
    assert (metadata["rows_before"], metadata["rows_after"]) == (written, distinct)
    assert metadata["bytes_before"] > 0 and metadata["bytes_after"] > 0
    assert metadata["skipped"] == "" and metadata["lake_version"] > 0
    assert check.passed and check.metadata["duplicate_rows"].value == 0
    assert partition_files(settings, "p1", DAY) == 1
    assert partition_files(settings, "p2", DAY) == 1  # another project's partition: untouched
    lake = read_events(settings, "p1", dedup=False)
    assert lake.height == lake["insert_id"].n_unique() == distinct


def test_today_waits_for_quiet(
    settings: Settings, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = datetime.now(UTC).date()
    append(settings, rows("p1", today, ["p1_1", "p1_2"]))
    append(settings, rows("p1", today, ["p1_1"], tag="r"))  # a retry, flushed just now

    metadata, check = materialize(settings, instance, "p1", today)
    assert metadata["skipped"] == "open_day" and metadata["files_after"] == 2
    assert check.passed and check.metadata["deferred_open_day"].value is True
    assert check.metadata["duplicate_rows"].value == 1

    monkeypatch.setenv("GROWTHOS_COMPACTION_QUIET_MINUTES", "0")  # every partition is quiet
    metadata, check = materialize(settings, instance, "p1", today)
    assert metadata["skipped"] == "" and metadata["duplicates_dropped"] == 1
    assert check.passed and check.metadata["duplicate_rows"].value == 0


def test_hourly_schedule_requests_yesterday_and_today_per_project() -> None:
    at = datetime(2025, 3, 11, 5, 10, tzinfo=UTC)
    # a Dagster instance on a temporary folder (a schedule context needs its reference)
    with dg.instance_for_test() as stored:
        with dg.build_schedule_context(instance=stored, scheduled_execution_time=at) as context:
            (skip,) = list(hourly_compaction(context))
        assert isinstance(skip, dg.SkipReason)  # the project sensor has not run yet

        stored.add_dynamic_partitions("projects", ["p2", "p1"])
        with dg.build_schedule_context(instance=stored, scheduled_execution_time=at) as context:
            requests = list(hourly_compaction(context))
    assert [r.partition_key for r in requests] == [
        key("p1", date(2025, 3, 10)),
        key("p1", date(2025, 3, 11)),
        key("p2", date(2025, 3, 10)),
        key("p2", date(2025, 3, 11)),
    ]
    assert len({r.run_key for r in requests}) == 4
    assert hourly_compaction.cron_schedule == "10 * * * *"


def test_maintenance_job_applies_retention_and_vacuums(
    settings: Settings, catalog: Catalog, keys: dict[str, str]
) -> None:
    project = keys["project_id"]
    today = datetime.now(UTC).date()
    append(settings, rows(project, today - timedelta(days=40), [f"{project}_1"]))
    append(settings, rows(project, today - timedelta(days=2), [f"{project}_2"]))
    with catalog.connect() as conn:
        conn.execute(
            update(projects_table).where(projects_table.c.id == project).values(retention_days=30)
        )
        conn.commit()

    result = lake_maintenance_job.execute_in_process(
        resources={
            "lake": LakeResource(data_dir=str(settings.data_dir)),
            "catalog": CatalogResource(data_dir=str(settings.data_dir)),
        }
    )

    assert result.success
    summary = result.output_for_node("lake_maintenance")
    assert summary["rows_expired"] == {project: 1}
    assert summary["retention_hours"] == 168
    assert summary["tables"]["events"]["files_vacuumed"] == 0  # removed < 168 h ago
    assert list(read_events(settings, project)["insert_id"]) == [f"{project}_2"]
    (step,) = [e for e in result.all_node_events if e.is_successful_output]
    metadata = step.event_specific_data.metadata  # type: ignore[union-attr]
    assert metadata["rows_expired"].value == 1
