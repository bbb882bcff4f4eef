"""``experiment_results``: every experiment's results
(:mod:`growthos_pipeline.experiments.results`), hourly; checked: one row per variation of each
experiment computed, and no sample-ratio mismatch (a warning: the results of such an
experiment are suspect until it is explained)."""

from datetime import timedelta

import dagster as dg
import polars as pl

from dagster_project.defs._per_project import freshness, per_project_schedule
from dagster_project.partitions import projects
from dagster_project.resources import CatalogResource, LakeResource
from growthos_pipeline.experiments.results import EXPERIMENT_RESULTS, build_experiment_results
from growthos_pipeline.lake.derived import read_table

ONE_ROW_PER_VARIATION = "one_row_per_variation"
NO_SAMPLE_RATIO_MISMATCH = "no_sample_ratio_mismatch"


@dg.asset(
    partitions_def=projects,
    group_name="derived",
    kinds={"deltalake", "polars"},
    deps=["profiles"],
    check_specs=[
        dg.AssetCheckSpec(
            ONE_ROW_PER_VARIATION,
            asset="experiment_results",
            description="Each experiment computed has one row per variation, numbered from 0.",
        ),
        dg.AssetCheckSpec(
            NO_SAMPLE_RATIO_MISMATCH,
            asset="experiment_results",
            description="No experiment's users per variation mismatch its expected split "
            "(chi-square p < 0.001); the metadata names the sources whose exposures the "
            "assignment replay disagrees with.",
        ),
    ],
    freshness_policy=freshness(timedelta(hours=1)),
)
def experiment_results(
    context: dg.AssetExecutionContext, lake: LakeResource, catalog: CatalogResource
) -> dg.MaterializeResult:
    """Per experiment with a goal (not a draft) and variation: users, conversions, rate,
    uplifts with intervals, p-value, chance to win, the sample-ratio check and the replay."""
    project_id = context.partition_key
    build = build_experiment_results(lake.settings, catalog.open(), project_id)
    rows = read_table(lake.settings, EXPERIMENT_RESULTS, project_id)
    shape = rows.group_by("experiment_key").agg(
        n=pl.len(), numbered=(pl.col("variation").sort() == pl.int_range(pl.len())).all()
    )
    expected = {r.experiment: len(r.variations) for r in build.results}
    found = {key: (int(n), bool(ok)) for key, n, ok in shape.iter_rows()}
    wrong = sorted(k for k in set(expected) | set(found) if found.get(k) != (expected.get(k), True))
    mismatched = {
        r.experiment: {
            "srm_p_value": r.srm.p_value,
            "disagreeing_by_source": {
                s.source: s.disagreeing_exposures
                for s in r.replay.sources
                if s.disagreeing_exposures
            },
        }
        for r in build.results
        if r.srm.mismatch
    }
    return dg.MaterializeResult(
        metadata={
            "rows": build.rows,
            "experiments": dg.MetadataValue.json(build.computed),
            "skipped": dg.MetadataValue.json(build.skipped),
            "users": dg.MetadataValue.json(
                {r.experiment: [v.users for v in r.variations] for r in build.results}
            ),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=ONE_ROW_PER_VARIATION,
                passed=not wrong,
                metadata={"wrong_experiments": dg.MetadataValue.json(wrong)},
            ),
            dg.AssetCheckResult(
                check_name=NO_SAMPLE_RATIO_MISMATCH,
                passed=not mismatched,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"mismatches": dg.MetadataValue.json(mismatched)},
            ),
        ],
    )


experiments_job = dg.define_asset_job("experiments_job", selection=[experiment_results])
experiments_schedule = per_project_schedule(
    "experiment_results_hourly",
    experiments_job,
    "40 * * * *",
    "Hourly (40 past): recompute the results of every project's experiments.",
)

defs = dg.Definitions(
    assets=[experiment_results], jobs=[experiments_job], schedules=[experiments_schedule]
)
