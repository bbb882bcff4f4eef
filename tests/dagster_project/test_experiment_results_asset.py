"""The ``experiment_results`` asset materialized by Dagster against a temporary data folder:
experiments in the SQLite catalog, exposures and purchases through the Ingestor into Delta,
results in the lake's ``experiment_results`` table, its checks, and its hourly schedule."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import polars as pl
import pytest

from dagster_project.defs.experiments import experiment_results, experiments_schedule
from dagster_project.resources import CatalogResource, LakeResource
from growthos_pipeline.catalog import keys
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.orgs import bootstrap
from growthos_pipeline.experiments.config import ExperimentCreate
from growthos_pipeline.experiments.results import EXPERIMENT_RESULTS, stored_results
from growthos_pipeline.experiments.store import create_experiment
from growthos_pipeline.lake.derived import read_table
from growthos_pipeline.settings import Settings
from tests.experiments.lake_world import DAY, HOUR, Sender, at, now_us, users_by_variation


def _experiment(key: str, **fields: Any) -> ExperimentCreate:
    values: dict[str, Any] = {
        "key": key,
        "status": "running",
        "goal": 'event_type = "purchase"',
        "variations": [{"value": "a", "key": "control"}, {"value": "b", "key": "treatment"}],
        "phases": [{"started_at": at(now_us() - 7 * DAY)}],
    }
    return ExperimentCreate.model_validate(values | fields)


@pytest.fixture
def project(settings: Settings, catalog: Catalog) -> str:
    """Three experiments: ``banner`` (treatment users buy twice as often), ``signup`` (an
    Android release logs treatment users in the control), ``pricing`` (no goal) and ``copy``
    (a draft)."""
    boot = bootstrap(catalog, settings, org_name="Acme", project_name="Web")
    project_id = boot["project_id"]
    admin = keys.authenticate(catalog, settings, boot["secret_key"])
    banner, signup = _experiment("banner"), _experiment("signup")
    for exp in (banner, signup, _experiment("pricing", goal=None), _experiment("copy")):
        if exp.key == "copy":
            exp = exp.model_copy(update={"status": "draft"})
        create_experiment(catalog, admin, project_id, exp)
    t0 = now_us() - 3 * DAY
    sender = Sender(settings, project_id)
    for v, ids in users_by_variation(banner, {0: 400, 1: 400}, prefix="b").items():
        assert v is not None
        for i, user in enumerate(ids):
            sender.plugin(user, "banner", v, t0 + i * 1000)
            if i < (40, 80)[v]:
                sender.event("purchase", t0 + HOUR, user=user)
    picked = users_by_variation(signup, {0: 300, 1: 500}, prefix="s")
    for v in (0, 1):
        for i, user in enumerate(picked[v][:300]):
            sender.plugin(user, "signup", v, t0 + i * 1000)
    for i, user in enumerate(picked[1][300:]):
        sender.event(
            "$exposure",
            t0 + i * 1000,
            user=user,
            library="growthos-android/2.1.0",
            experiment="signup",
            variation=0,
        )
    sender.send()
    return project_id


@pytest.fixture
def instance(project: str) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("projects", [project])
        yield instance


def test_the_asset_stores_every_experiments_results(
    settings: Settings, instance: dg.DagsterInstance, project: str
) -> None:
    data_dir = str(settings.data_dir)
    result = dg.materialize(
        [experiment_results],
        partition_key=project,
        instance=instance,
        resources={
            "lake": LakeResource(data_dir=data_dir),
            "catalog": CatalogResource(data_dir=data_dir, database_url=None),
        },
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node("experiment_results")
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert metadata["experiments"] == ["banner", "signup"]
    assert metadata["skipped"] == {"copy": "a draft", "pricing": "no goal"}
    assert metadata["users"] == {"banner": [400, 400], "signup": [500, 300]}
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["one_row_per_variation"].passed
    srm = checks["no_sample_ratio_mismatch"]
    assert not srm.passed and srm.severity == dg.AssetCheckSeverity.WARN
    mismatches = srm.metadata["mismatches"].value
    assert list(mismatches) == ["signup"]
    assert mismatches["signup"]["disagreeing_by_source"] == {"growthos-android/2.1.0": 200}

    rows = read_table(settings, EXPERIMENT_RESULTS, project).sort("experiment_key", "variation")
    assert rows.select("experiment_key", "variation", "users", "conversions").rows() == [
        ("banner", 0, 400, 40),
        ("banner", 1, 400, 80),
        ("signup", 0, 500, 0),
        ("signup", 1, 300, 0),
    ]
    banner = rows.filter(pl.col("experiment_key") == "banner")
    assert banner["p_value"][1] is not None and banner["p_value"][1] < 0.001
    assert banner["relative_uplift"][1] == pytest.approx(1.0)
    assert rows["srm_mismatch"].to_list() == [False, False, True, True]
    stored = stored_results(settings, project, "banner")
    assert stored is not None and stored.stored
    assert [v.conversions for v in stored.variations] == [40, 80]
    assert stored.computed_at == banner["computed_at"][0]


AT = datetime(2026, 3, 11, 9, 40, tzinfo=UTC)


def test_the_schedule_asks_for_one_run_per_project_every_hour() -> None:
    with dg.instance_for_test() as stored:
        with dg.build_schedule_context(instance=stored, scheduled_execution_time=AT) as context:
            (skip,) = list(experiments_schedule(context))
        assert isinstance(skip, dg.SkipReason)
        stored.add_dynamic_partitions("projects", ["p2", "p1"])
        with dg.build_schedule_context(instance=stored, scheduled_execution_time=AT) as context:
            requests = list(experiments_schedule(context))
    assert [r.partition_key for r in requests] == ["p1", "p2"]
    assert experiments_schedule.cron_schedule == "40 * * * *"
    spec = next(iter(experiment_results.specs))
    assert spec.freshness_policy is not None
