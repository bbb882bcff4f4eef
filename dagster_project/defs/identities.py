"""``identities``: device -> user per project (:mod:`growthos_pipeline.identity`), every
15 minutes; checked: one row per device, every row names a user."""

from datetime import timedelta

import dagster as dg
import polars as pl

from dagster_project.defs._per_project import freshness, per_project_schedule
from dagster_project.partitions import projects
from dagster_project.resources import LakeResource
from growthos_pipeline.identity import build_identities, scan_identities

ONE_ROW_PER_DEVICE = "one_row_per_device"


@dg.asset(
    partitions_def=projects,
    group_name="derived",
    kinds={"deltalake", "polars"},
    check_specs=[
        dg.AssetCheckSpec(
            ONE_ROW_PER_DEVICE,
            asset="identities",
            description="No device maps to two users; every row has a device and a user.",
        )
    ],
    freshness_policy=freshness(timedelta(minutes=15)),
)
def identities(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Device -> user from $identify and $alias: the user of the device's first identify."""
    project_id = context.partition_key
    devices = build_identities(lake.settings, project_id)
    stats = (
        scan_identities(lake.settings, project_id)
        .select(
            pl.len().alias("rows"),
            pl.col("device_id").n_unique().alias("devices"),
            pl.col("user_id").n_unique().alias("users"),
            (pl.col("device_id").null_count() + pl.col("user_id").null_count()).alias("nulls"),
        )
        .collect()
        .row(0, named=True)
    )
    return dg.MaterializeResult(
        metadata={"devices": devices, "users": int(stats["users"])},
        check_results=[
            dg.AssetCheckResult(
                check_name=ONE_ROW_PER_DEVICE,
                passed=stats["rows"] == stats["devices"] and stats["nulls"] == 0,
                metadata={"rows": int(stats["rows"]), "devices": int(stats["devices"])},
            )
        ],
    )


identities_job = dg.define_asset_job("identities_job", selection=[identities])
identities_schedule = per_project_schedule(
    "identities_every_15_minutes",
    identities_job,
    "*/15 * * * *",
    "Every 15 minutes: rebuild every project's identities.",
)

defs = dg.Definitions(assets=[identities], jobs=[identities_job], schedules=[identities_schedule])
