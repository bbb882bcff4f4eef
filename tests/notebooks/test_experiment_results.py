"""``ws.experiment_results(key)`` in a notebook: on a data folder (the lake and the catalog in
this process) and on a server (over HTTP), the same results; their frame, their figure, and
errors that say what to do."""

from __future__ import annotations

from pathlib import Path

import httpx2
import plotly.graph_objects as go
import pytest
from polars.testing import assert_frame_equal

import growthos_pipeline as gos
from growthos_pipeline import plots
from growthos_pipeline.catalog import keys
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.orgs import bootstrap
from growthos_pipeline.errors import BadRequest, NotFound
from growthos_pipeline.experiments.config import ExperimentCreate
from growthos_pipeline.experiments.results import build_experiment_results
from growthos_pipeline.experiments.store import create_experiment
from tests.experiments.lake_world import DAY, HOUR, Sender, at, now_us, users_by_variation
from tests.notebooks.conftest import Served, folder_settings

EXPERIMENT = ExperimentCreate.model_validate(
    {
        "key": "onboarding",
        "status": "running",
        "goal": 'event_type = "board_created"',
        "variations": [{"value": "tour", "key": "tour"}, {"value": "video", "key": "video"}],
    }
)


def _with_phase(exp: ExperimentCreate) -> ExperimentCreate:
    phases = [{"started_at": at(now_us() - 10 * DAY)}]
    return ExperimentCreate.model_validate(exp.model_dump() | {"phases": phases})


def test_local_results_frame_plot_and_stored(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    settings = folder_settings(data_dir)
    catalog = Catalog.open(settings)
    boot = bootstrap(catalog, settings, org_name="Acme", project_name="boards")
    project = boot["project_id"]
    admin = keys.authenticate(catalog, settings, boot["secret_key"])
    exp = _with_phase(EXPERIMENT)
    create_experiment(catalog, admin, project, exp)
    t0 = now_us() - 2 * DAY
    sender = Sender(settings, project)
    for v, ids in users_by_variation(exp, {0: 200, 1: 200}, prefix="board").items():
        assert v is not None
        for i, user in enumerate(ids):
            sender.plugin(user, "onboarding", v, t0 + i * 1000)
            if i < (30, 60)[v]:
                sender.event("board_created", t0 + HOUR, user=user)
    sender.send()

    ws = gos.open(data_dir)
    results = ws.experiment_results("onboarding")
    assert not results.stored
    frame = results.frame
    assert frame.select("variation", "key", "users", "conversions").rows() == [
        (0, "tour", 200, 30),
        (1, "video", 200, 60),
    ]
    assert frame["relative_uplift"][1] == pytest.approx(1.0)
    assert frame["relative_low"][1] < 1.0 < frame["relative_high"][1]
    assert frame["rate_low"][0] < 0.15 < frame["rate_high"][0]
    assert results.sources.rows() == [("growthbook-javascript/1.6.0", 400, 0)]

    fig = results.plot()
    assert isinstance(fig, go.Figure)
    rates, uplift = fig.data
    assert (rates.type, list(rates.y)) == ("bar", [0.15, 0.30])
    assert (uplift.type, list(uplift.x)) == ("scatter", [pytest.approx(1.0)])
    assert fig.layout.title.text == 'onboarding: event_type = "board_created"'
    assert plots.experiment(frame).data[0].y == rates.y

    build_experiment_results(settings, catalog, project)
    stored = ws.experiment_results("onboarding")
    assert stored.stored and stored.frame.equals(frame)
    other = ws.experiment_results("onboarding", goal='event_type = "nothing"')
    assert other.frame["conversions"].to_list() == [0, 0]
    with pytest.raises(NotFound) as missing:
        ws.experiment_results("offboarding")
    assert missing.value.code == "experiment_not_found"
    catalog.dispose()


def test_remote_results_are_the_local_results(served: Served) -> None:
    created = httpx2.post(
        f"{served.url}/v1/projects/{served.project_id}/experiments",
        headers={"X-API-Key": served.secret_key},
        json=_with_phase(EXPERIMENT).model_dump(mode="json"),
    )
    assert created.status_code == 201, created.text
    local = gos.open(served.data_dir, project=served.project_id)
    with gos.connect(served.url, key=served.secret_key, project=served.project_id) as remote:
        got, want = remote.experiment_results("onboarding"), local.experiment_results("onboarding")
        assert_frame_equal(got.frame, want.frame)
        assert (got.srm, got.exposures, got.replay) == (want.srm, want.exposures, want.replay)
        assert got.lake_version == want.lake_version
        with pytest.raises(BadRequest) as bad:
            remote.experiment_results("onboarding", goal="event_type = ")
        assert bad.value.code == "invalid_goal" and bad.value.details[0]["column"] == 14
        with pytest.raises(NotFound) as missing:
            remote.experiment_results("offboarding")
        assert missing.value.code == "experiment_not_found"
    with gos.connect(served.url, key=served.secret_key) as anonymous:
        with pytest.raises(BadRequest) as unnamed:
            anonymous.experiment_results("onboarding")
        assert unnamed.value.code == "project_required"
