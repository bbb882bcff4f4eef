"""Compaction and lake maintenance: thin wrappers over :mod:`growthos_pipeline.lake.compaction`.

* ``events_compacted`` (partitioned per project and UTC day): one partition of the events
  table rewritten as few sorted files without duplicate insert_ids; a check asserts that no
  duplicate insert_id remains; a freshness policy (evaluated by Dagster's freshness daemon,
  on by default since 1.12) shows it stale in the UI when no partition was compacted for
  three hours, i.e. when the hourly schedule is stopped or keeps failing.
* ``hourly_compaction``: every hour, yesterday's and today's partition of every project
  (today's is compacted only once no flush touched it for ``GROWTHOS_COMPACTION_QUIET_MINUTES``).
* ``lake_maintenance_job`` / ``daily_lake_maintenance``: each project's ``retention_days``,
  then checkpoint, log cleanup and vacuum (``GROWTHOS_VACUUM_RETENTION_HOURS``) of every table.
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import dagster as dg
from sqlalchemy import select

from dagster_project.partitions import project_daily, projects
from dagster_project.resources import CatalogResource, LakeResource
from growthos_pipeline.catalog.tables import projects as projects_table
from growthos_pipeline.lake.compaction import (
    compact,
    duplicate_insert_ids,
    expire_partitions,
    maintain,
    quiet_for,
)

#: A compaction older than this shows as stale (warn after the first missed hours).
FRESHNESS_FAIL = timedelta(hours=3)
FRESHNESS_WARN = timedelta(hours=2)
NO_DUPLICATES = "no_duplicate_insert_ids"


@dg.asset(
    partitions_def=project_daily,
    group_name="lake",
    kinds={"deltalake", "polars"},
    check_specs=[
        dg.AssetCheckSpec(
            NO_DUPLICATES,
            asset="events_compacted",
            description="After compaction no insert_id occurs twice in the partition.",
        )
    ],
    freshness_policy=dg.FreshnessPolicy.time_window(
        fail_window=FRESHNESS_FAIL, warn_window=FRESHNESS_WARN
    ),
    retry_policy=dg.RetryPolicy(max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL),
)
def events_compacted(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """One (project, day) partition of the events table merged into few files sorted by
    (event_type, time), duplicate insert_ids dropped (the earliest received copy is kept).
    Closed days are compacted; today only when quiet."""
    key = context.partition_key
    assert isinstance(key, dg.MultiPartitionKey)
    project_id = key.keys_by_dimension["project"]
    day = date.fromisoformat(key.keys_by_dimension["date"])
    settings = lake.settings
    now = datetime.now(UTC)
    quiet = False
    if day == now.date():
        idle = quiet_for(settings, project_id, day, now=now)
        quiet = idle is None or idle >= timedelta(minutes=settings.compaction_quiet_minutes)
    report = compact(settings, project_id, day, now=now, quiet=quiet)
    context.log.info(
        "%s %s: %s", project_id, day, report.skipped or f"compacted in {report.seconds:.2f} s"
    )
    remaining = duplicate_insert_ids(settings, project_id, day)
    deferred = report.skipped == "open_day"
    return dg.MaterializeResult(
        metadata={
            "duplicates_dropped": report.duplicates_dropped,
            "files_before": report.files_before,
            "files_after": report.files_after,
            "rows_before": report.rows_before,
            "rows_after": report.rows_after,
            "bytes_before": report.bytes_before,
            "bytes_after": report.bytes_after,
            "seconds": round(report.seconds, 3),
            "attempts": report.attempts,
            "skipped": report.skipped or "",
            "lake_version": report.version if report.version is not None else -1,
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=NO_DUPLICATES,
                passed=deferred or remaining == 0,
                metadata={
                    "duplicate_rows": remaining,
                    # today's partition while ingest is busy: compacted once it is quiet
                    "deferred_open_day": deferred,
                },
            )
        ],
    )


compaction_job = dg.define_asset_job(
    "compaction_job",
    selection=[events_compacted],
    description="Compact one (project, day) partition of the events table.",
)


def compaction_requests(project_ids: list[str], now: datetime) -> list[dg.RunRequest]:
    """Yesterday's (now closed) and today's partition of every project."""
    today = now.astimezone(UTC).date()
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M")
    return [
        dg.RunRequest(
            run_key=f"{project_id}|{day.isoformat()}|{stamp}",
            partition_key=dg.MultiPartitionKey({"project": project_id, "date": day.isoformat()}),
        )
        for project_id in sorted(project_ids)
        for day in (today - timedelta(days=1), today)
    ]


@dg.schedule(
    cron_schedule="10 * * * *",
    job=compaction_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Hourly: compact yesterday's and (when quiet) today's events of every project.",
)
def hourly_compaction(
    context: dg.ScheduleEvaluationContext,
) -> Iterator[dg.RunRequest | dg.SkipReason]:
    project_ids = list(context.instance.get_dynamic_partitions(projects.name or "projects"))
    if not project_ids:
        yield dg.SkipReason("no project partitions yet (the project sensor adds them)")
        return
    now = context.scheduled_execution_time or datetime.now(UTC)
    yield from compaction_requests(project_ids, now)


def project_retention(catalog: CatalogResource) -> dict[str, int]:
    """``retention_days`` of every project that has one."""
    query = select(projects_table.c.id, projects_table.c.retention_days).where(
        projects_table.c.retention_days.is_not(None)
    )
    with catalog.open().connect() as conn:
        return {row.id: int(row.retention_days) for row in conn.execute(query)}


@dg.op(description="Apply retention_days, then checkpoint, clean up and vacuum every table.")
def lake_maintenance(
    context: dg.OpExecutionContext, lake: LakeResource, catalog: CatalogResource
) -> dict[str, object]:
    settings = lake.settings
    expired = {
        project_id: expire_partitions(settings, project_id, retention_days=days)
        for project_id, days in sorted(project_retention(catalog).items())
    }
    report = maintain(settings)
    summary: dict[str, object] = {
        "retention_hours": report.retention_hours,
        "rows_expired": expired,
        "tables": {
            name: {
                "version": t.version,
                "log_files_removed": t.log_files_removed,
                "files_vacuumed": t.files_vacuumed,
                "orphans_removed": t.orphans_removed,
            }
            for name, t in report.tables.items()
        },
        "seconds": round(report.seconds, 3),
    }
    context.add_output_metadata(
        {
            "retention_hours": report.retention_hours,
            "rows_expired": sum(expired.values()),
            "files_vacuumed": sum(t.files_vacuumed for t in report.tables.values()),
            "log_files_removed": sum(t.log_files_removed for t in report.tables.values()),
            "summary": dg.MetadataValue.json(summary),
        }
    )
    return summary


@dg.job(description="Retention, checkpoint, log cleanup and vacuum of the lake.")
def lake_maintenance_job() -> None:
    lake_maintenance()


daily_lake_maintenance = dg.ScheduleDefinition(
    name="daily_lake_maintenance",
    job=lake_maintenance_job,
    cron_schedule="30 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily at 02:30 UTC: retention_days, checkpoint, log cleanup, vacuum.",
)

defs = dg.Definitions(
    assets=[events_compacted],
    jobs=[compaction_job, lake_maintenance_job],
    schedules=[hourly_compaction, daily_lake_maintenance],
)
