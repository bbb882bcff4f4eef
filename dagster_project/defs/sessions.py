"""``sessions``: the query language's sessions, materialized (:mod:`growthos_pipeline.sessions`),
hourly; checked: every session ends at or after its start and has events."""

from datetime import timedelta

import dagster as dg
import polars as pl

from dagster_project.defs._per_project import freshness, per_project_schedule
from dagster_project.partitions import projects
from dagster_project.resources import LakeResource
from growthos_pipeline.sessions import build_sessions, scan_sessions

ENDS_AFTER_START = "ends_after_start"


@dg.asset(
    partitions_def=projects,
    group_name="derived",
    kinds={"deltalake", "polars"},
    deps=["identities"],
    check_specs=[
        dg.AssetCheckSpec(
            ENDS_AFTER_START,
            asset="sessions",
            description="session_end >= session_start, events >= 1, one row per session_id.",
        )
    ],
    freshness_policy=freshness(timedelta(hours=1)),
)
def sessions(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Sessions (explicit session_id, else 30 minutes of inactivity per user or device)."""
    project_id = context.partition_key
    count = build_sessions(lake.settings, project_id)
    stats = (
        scan_sessions(lake.settings, project_id)
        .select(
            pl.len().alias("rows"),
            pl.col("session_id").n_unique().alias("ids"),
            (pl.col("session_end") < pl.col("session_start")).sum().alias("backwards"),
            (pl.col("events") < 1).sum().alias("empty"),
        )
        .collect()
        .row(0, named=True)
    )
    passed = stats["backwards"] == 0 and stats["empty"] == 0 and stats["rows"] == stats["ids"]
    return dg.MaterializeResult(
        metadata={"sessions": count},
        check_results=[
            dg.AssetCheckResult(
                check_name=ENDS_AFTER_START,
                passed=bool(passed),
                metadata={k: int(v or 0) for k, v in stats.items()},
            )
        ],
    )


sessions_job = dg.define_asset_job("sessions_job", selection=[sessions])
sessions_schedule = per_project_schedule(
    "sessions_hourly", sessions_job, "20 * * * *", "Hourly: rebuild every project's sessions."
)

defs = dg.Definitions(assets=[sessions], jobs=[sessions_job], schedules=[sessions_schedule])
