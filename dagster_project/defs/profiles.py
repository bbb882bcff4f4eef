"""``profiles``: user properties with every operation applied (:mod:`growthos_pipeline.profiles`),
every 15 minutes after identities; checked: one row per user, properties are JSON objects."""

import json
from datetime import timedelta

import dagster as dg

from dagster_project.defs._per_project import freshness, per_project_schedule
from dagster_project.partitions import projects
from dagster_project.resources import LakeResource
from growthos_pipeline.profiles import build_profiles, scan_profiles

ONE_ROW_PER_USER = "one_row_per_user"
PROPERTIES_ARE_JSON = "properties_are_json_objects"


def _json_objects(texts: list[str | None]) -> int:
    bad = 0
    for text in texts:
        try:
            bad += not isinstance(json.loads(text or ""), dict)
        except ValueError:
            bad += 1
    return bad


@dg.asset(
    partitions_def=projects,
    group_name="derived",
    kinds={"deltalake", "polars"},
    deps=["identities"],
    check_specs=[
        dg.AssetCheckSpec(
            ONE_ROW_PER_USER, asset="profiles", description="No user has two profile rows."
        ),
        dg.AssetCheckSpec(
            PROPERTIES_ARE_JSON,
            asset="profiles",
            description="Every profile's properties is a JSON object.",
        ),
    ],
    freshness_policy=freshness(timedelta(minutes=15)),
)
def profiles(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Per user: properties after every $set, $set_once, $add, $append, $prepend, $remove,
    $unset and $clearAll in event-time order, including its devices' events before login."""
    project_id = context.partition_key
    users = build_profiles(lake.settings, project_id)
    rows = scan_profiles(lake.settings, project_id).select("user_id", "properties").collect()
    distinct = rows["user_id"].n_unique()
    bad_json = _json_objects(rows["properties"].to_list())
    return dg.MaterializeResult(
        metadata={"users": users, "with_properties": int((rows["properties"] != "{}").sum())},
        check_results=[
            dg.AssetCheckResult(
                check_name=ONE_ROW_PER_USER,
                passed=distinct == rows.height,
                metadata={"rows": rows.height, "users": distinct},
            ),
            dg.AssetCheckResult(
                check_name=PROPERTIES_ARE_JSON, passed=bad_json == 0, metadata={"invalid": bad_json}
            ),
        ],
    )


profiles_job = dg.define_asset_job("profiles_job", selection=[profiles])
profiles_schedule = per_project_schedule(
    "profiles_every_15_minutes",
    profiles_job,
    "5-59/15 * * * *",
    "Every 15 minutes (5 past the identities run): rebuild every project's profiles.",
)

defs = dg.Definitions(assets=[profiles], jobs=[profiles_job], schedules=[profiles_schedule])
