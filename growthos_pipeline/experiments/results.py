"""Experiment results kept in the lake and served: the ``experiment_results`` table, its build
(the Dagster asset of the same name) and the one call the API and the notebooks make.

The table holds one row per (experiment, variation) of each project's experiments that have a
goal and are not drafts: the figures as typed columns (for Spark, DuckDB or ``pl.scan_delta``),
and in ``result`` the whole :class:`~growthos_pipeline.experiments.analysis.ExperimentResults`
as JSON (the same on every row of an experiment). A build replaces the project's rows in one
commit (:mod:`growthos_pipeline.lake.derived`); no column holds a user.

Serving (:func:`experiment_results`): the stored results when the table has them for the
experiment as it is now (built after its last change, for its current goal), else results
computed on the spot; ``fresh=True``, a ``goal`` or an
``as_of`` always compute (and store nothing). ``stored`` and ``computed_at`` say which.

Examples
--------
>>> import tempfile
>>> from growthos_pipeline.catalog import keys, orgs
>>> from growthos_pipeline.catalog.database import Catalog
>>> from growthos_pipeline.experiments.config import ExperimentCreate
>>> from growthos_pipeline.experiments.store import create_experiment
>>> settings = Settings(data_dir=tempfile.mkdtemp())
>>> catalog = Catalog.open(settings)
>>> boot = orgs.bootstrap(catalog, settings, org_name="Acme", project_name="Web")
>>> admin = keys.authenticate(catalog, settings, boot["secret_key"])
>>> project = boot["project_id"]
>>> _ = create_experiment(catalog, admin, project, ExperimentCreate(
...     key="cta", status="running", goal='event_type = "signup"',
...     variations=[{"value": "Buy"}, {"value": "Get it"}]))
>>> build_experiment_results(settings, catalog, project).computed
['cta']
>>> results = experiment_results(catalog, settings, admin, project, "cta")
>>> results.stored, [v.users for v in results.variations]
(True, [0, 0])
>>> experiment_results(catalog, settings, admin, project, "cta", fresh=True).stored
False
>>> catalog.dispose()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl
import pyarrow as pa

from growthos_pipeline.catalog.access import Principal, require_project_read
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.errors import UserError
from growthos_pipeline.experiments.analysis import ExperimentResults, analyze, from_json, to_json
from growthos_pipeline.experiments.store import find_experiment, project_experiments
from growthos_pipeline.lake.derived import TS, DerivedTable, replace_project, scan_table
from growthos_pipeline.settings import Settings

_F = pa.float64()

EXPERIMENT_RESULTS = DerivedTable(
    "experiment_results",
    pa.schema(
        [
            pa.field("project_id", pa.string(), nullable=False),
            pa.field("experiment_key", pa.string(), nullable=False),
            pa.field("variation", pa.int32(), nullable=False),
            pa.field("variation_key", pa.string(), nullable=False),
            pa.field("users", pa.int64(), nullable=False),
            pa.field("conversions", pa.int64(), nullable=False),
            pa.field("rate", _F),
            pa.field("absolute_uplift", _F),
            pa.field("absolute_low", _F),
            pa.field("absolute_high", _F),
            pa.field("relative_uplift", _F),
            pa.field("relative_low", _F),
            pa.field("relative_high", _F),
            pa.field("p_value", _F),
            pa.field("chance_to_win", _F),
            pa.field("expected_share", _F),
            pa.field("exposures", pa.int64(), nullable=False),
            pa.field("disagreeing_exposures", pa.int64(), nullable=False),
            pa.field("srm_p_value", _F),
            pa.field("srm_mismatch", pa.bool_(), nullable=False),
            pa.field("goal", pa.string(), nullable=False),
            pa.field("window_start", TS, nullable=False),
            pa.field("window_end", TS, nullable=False),
            pa.field("lake_version", pa.int64()),
            pa.field("computed_at", TS, nullable=False),
            pa.field("result", pa.string(), nullable=False),
        ]
    ),
    description="GrowthOS experiment results: per experiment and variation, with the "
    "sample-ratio check and the assignment replay",
)


def result_rows(results: ExperimentResults) -> pl.DataFrame:
    """The table's rows for one experiment's results (without ``project_id``)."""
    frame = results.frame
    document = to_json(results)
    return frame.select(
        pl.lit(results.experiment).alias("experiment_key"),
        pl.col("variation").cast(pl.Int32),
        pl.col("key").alias("variation_key"),
        "users",
        "conversions",
        "rate",
        "absolute_uplift",
        "absolute_low",
        "absolute_high",
        "relative_uplift",
        "relative_low",
        "relative_high",
        "p_value",
        "chance_to_win",
        "expected_share",
        "exposures",
        "disagreeing_exposures",
        pl.lit(results.srm.p_value, dtype=pl.Float64).alias("srm_p_value"),
        pl.lit(results.srm.mismatch).alias("srm_mismatch"),
        pl.lit(results.goal).alias("goal"),
        pl.lit(results.start).cast(pl.Datetime("us", "UTC")).alias("window_start"),
        pl.lit(results.end).cast(pl.Datetime("us", "UTC")).alias("window_end"),
        pl.lit(results.lake_version, dtype=pl.Int64).alias("lake_version"),
        pl.lit(results.computed_at).cast(pl.Datetime("us", "UTC")).alias("computed_at"),
        pl.lit(document).alias("result"),
    )


@dataclass
class Build:
    """What one build did: the experiments computed (in key order) and those skipped, with
    the reason (no goal, a draft, an empty window, a goal that no longer compiles)."""

    rows: int = 0
    computed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    results: list[ExperimentResults] = field(default_factory=list)


def build_experiment_results(
    settings: Settings, catalog: Catalog, project_id: str, *, now: datetime | None = None
) -> Build:
    """Compute the results of every experiment of ``project_id`` that has a goal and is not a
    draft, and replace the project's rows of ``experiment_results`` with them."""
    moment = now or datetime.now(UTC)
    build = Build()
    parts: list[pl.DataFrame] = []
    for exp, created_at in project_experiments(catalog, project_id):
        if exp.status == "draft":
            build.skipped[exp.key] = "a draft"
            continue
        if exp.goal is None:
            build.skipped[exp.key] = "no goal"
            continue
        try:
            results = analyze(settings, project_id, exp, created_at=created_at, now=moment)
        except UserError as err:
            build.skipped[exp.key] = f"{err.code}: {err.message}"
            continue
        build.computed.append(exp.key)
        build.results.append(results)
        parts.append(result_rows(results))
    frame = pl.concat(parts) if parts else pl.DataFrame()
    build.rows = replace_project(settings, EXPERIMENT_RESULTS, project_id, frame)
    return build


def stored_results(settings: Settings, project_id: str, key: str) -> ExperimentResults | None:
    """The results of experiment ``key`` at the last build (None when it has none)."""
    rows = (
        scan_table(settings, EXPERIMENT_RESULTS, project_id)
        .filter(pl.col("experiment_key") == key)
        .select("result")
        .head(1)
        .collect()
    )
    return from_json(rows["result"][0]) if rows.height else None


def _aware(moment: datetime) -> datetime:
    """A catalog time (naive UTC on SQLite) as an aware UTC time."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def results_for(
    catalog: Catalog,
    settings: Settings,
    project_id: str,
    ref: str,
    *,
    fresh: bool = False,
    goal: str | None = None,
    as_of: int | None = None,
) -> ExperimentResults:
    """The results of the experiment ``ref`` (id or key) of ``project_id``, for a caller
    whose access was checked: stored when the table has them for the experiment's goal and
    nothing asks for a computation, else computed now (see the module doc)."""
    exp, created_at, updated_at = find_experiment(catalog, project_id, ref)
    if not fresh and goal is None and as_of is None:
        stored = stored_results(settings, project_id, exp.key)
        if (
            stored is not None
            and stored.goal == exp.goal
            and stored.computed_at >= _aware(updated_at)
        ):
            return stored
    return analyze(settings, project_id, exp, goal=goal, created_at=created_at, as_of=as_of)


def experiment_results(
    catalog: Catalog,
    settings: Settings,
    principal: Principal,
    project_id: str,
    ref: str,
    *,
    fresh: bool = False,
    goal: str | None = None,
    as_of: int | None = None,
) -> ExperimentResults:
    """:func:`results_for` for ``principal``, which needs the ``query`` or ``admin`` scope on
    the project (as every read of an experiment)."""
    with catalog.connect() as conn:
        require_project_read(conn, principal, project_id)
    return results_for(catalog, settings, project_id, ref, fresh=fresh, goal=goal, as_of=as_of)
