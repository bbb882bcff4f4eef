"""``usage_daily``: events ingested and queries run per project and UTC day
(:mod:`growthos_pipeline.usage`), daily; checked: no negative count, one row per day."""

from datetime import timedelta

import dagster as dg

from dagster_project.defs._per_project import freshness, per_project_schedule
from dagster_project.partitions import projects
from dagster_project.resources import CatalogResource, LakeResource
from growthos_pipeline.lake.derived import read_table
from growthos_pipeline.usage import USAGE_DAILY, build_usage

COUNTS_VALID = "counts_valid"


@dg.asset(
    partitions_def=projects,
    group_name="derived",
    kinds={"deltalake", "polars"},
    check_specs=[
        dg.AssetCheckSpec(
            COUNTS_VALID,
            asset="usage_daily",
            description="No negative count; one row per project and day.",
        )
    ],
    freshness_policy=freshness(timedelta(days=1)),
)
def usage_daily(
    context: dg.AssetExecutionContext, lake: LakeResource, catalog: CatalogResource
) -> dg.MaterializeResult:
    """Per UTC day: events ingested (by received_at) and queries run."""
    project_id = context.partition_key
    days = build_usage(lake.settings, catalog.open(), project_id)
    rows = read_table(lake.settings, USAGE_DAILY, project_id)
    negative = int(((rows["events_ingested"] < 0) | (rows["queries_run"] < 0)).sum())
    distinct = rows["day"].n_unique()
    return dg.MaterializeResult(
        metadata={
            "days": days,
            "events_ingested": int(rows["events_ingested"].sum()),
            "queries_run": int(rows["queries_run"].sum()),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=COUNTS_VALID,
                passed=negative == 0 and distinct == rows.height,
                metadata={"negative_rows": negative, "rows": rows.height, "days": distinct},
            )
        ],
    )


usage_job = dg.define_asset_job("usage_job", selection=[usage_daily])
usage_schedule = per_project_schedule(
    "usage_daily_schedule",
    usage_job,
    "15 0 * * *",
    "Daily at 00:15 UTC: rebuild every project's daily usage.",
)

defs = dg.Definitions(assets=[usage_daily], jobs=[usage_job], schedules=[usage_schedule])
