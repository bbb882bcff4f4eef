"""``segment_members``: each segment's members (:mod:`growthos_pipeline.segments`), every
15 minutes; checked: members belong to the project's existing segments, no duplicates."""

from datetime import timedelta

import dagster as dg
import polars as pl

from dagster_project.defs._per_project import freshness, per_project_schedule
from dagster_project.partitions import projects
from dagster_project.resources import CatalogResource, LakeResource
from growthos_pipeline.lake.derived import read_table
from growthos_pipeline.segments import SEGMENT_MEMBERS, build_segment_members, project_segments

MEMBERS_BELONG = "members_belong_to_project"


@dg.asset(
    partitions_def=projects,
    group_name="derived",
    kinds={"deltalake", "polars"},
    deps=["profiles"],
    check_specs=[
        dg.AssetCheckSpec(
            MEMBERS_BELONG,
            asset="segment_members",
            description="Every member row names one of the project's "
            "segments; no member twice in a segment.",
        )
    ],
    freshness_policy=freshness(timedelta(minutes=15)),
)
def segment_members(
    context: dg.AssetExecutionContext, lake: LakeResource, catalog: CatalogResource
) -> dg.MaterializeResult:
    """The actors (user, else device) with an event matching each segment's filter in its
    window."""
    project_id = context.partition_key
    members = build_segment_members(lake.settings, catalog.open(), project_id)
    known = {s["id"] for s in project_segments(catalog.open(), project_id)}
    rows = read_table(lake.settings, SEGMENT_MEMBERS, project_id)
    foreign = int((~rows["segment_id"].is_in(sorted(known))).sum()) if rows.height else 0
    wrong_project = int((rows["project_id"] != project_id).sum())
    duplicates = rows.height - rows.select("segment_id", "user_id").unique().height
    per_segment = rows.group_by("segment_id").agg(pl.len().alias("n")).rows()
    return dg.MaterializeResult(
        metadata={
            "members": members,
            "segments": len(known),
            "per_segment": dg.MetadataValue.json({k: int(n) for k, n in per_segment}),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=MEMBERS_BELONG,
                passed=foreign == 0 and wrong_project == 0 and duplicates == 0,
                metadata={
                    "unknown_segment_rows": foreign,
                    "other_project_rows": wrong_project,
                    "duplicates": duplicates,
                },
            )
        ],
    )


segments_job = dg.define_asset_job("segments_job", selection=[segment_members])
segments_schedule = per_project_schedule(
    "segments_every_15_minutes",
    segments_job,
    "10-59/15 * * * *",
    "Every 15 minutes (10 past the identities run): recompute every project's segments.",
)

defs = dg.Definitions(assets=[segment_members], jobs=[segments_job], schedules=[segments_schedule])
