"""Shared by the derived-asset modules: a schedule that requests one run per project
partition, and the freshness policy of an asset rebuilt on a cadence."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg

from dagster_project.partitions import projects


def freshness(cadence: timedelta) -> dg.FreshnessPolicy:
    """Stale (warn) after two missed runs, failed after four: a stopped or failing schedule
    shows in the UI."""
    return dg.FreshnessPolicy.time_window(fail_window=cadence * 4, warn_window=cadence * 2)


def per_project_schedule(
    name: str, job: dg.UnresolvedAssetJobDefinition, cron: str, description: str
) -> dg.ScheduleDefinition:
    """``job`` on ``cron`` (UTC) for every project partition."""

    @dg.schedule(
        name=name,
        cron_schedule=cron,
        job=job,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=description,
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest | dg.SkipReason]:
        project_ids = sorted(context.instance.get_dynamic_partitions(projects.name or "projects"))
        if not project_ids:
            yield dg.SkipReason("no project partitions yet (the project sensor adds them)")
            return
        moment = context.scheduled_execution_time or datetime.now(UTC)
        stamp = moment.astimezone(UTC).strftime("%Y%m%dT%H%M")
        for project_id in project_ids:
            yield dg.RunRequest(run_key=f"{project_id}|{stamp}", partition_key=project_id)

    return _schedule
