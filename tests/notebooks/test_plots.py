"""The plot helpers draw what the query language answers: trends over time buckets (one line
per group), funnels (one per group), retention grids, bars; and refuse shapes they cannot draw
with a code that says what to do."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
import polars as pl
import pytest

import growthos_pipeline as gos
from growthos_pipeline import plots
from growthos_pipeline.errors import BadRequest


@pytest.fixture
def ws(demo_source: Path) -> gos.LocalWorkspace:
    return gos.open(demo_source)


def test_trend_draws_one_line_per_group_over_the_buckets(ws: gos.LocalWorkspace) -> None:
    answer = ws.query('event_type = "page_view" | last 30d | count by day, _device_type')
    fig = plots.trend(answer, title="page views")
    assert isinstance(fig, go.Figure)
    devices = sorted(answer["_device_type"].unique().to_list())
    assert sorted(trace.name for trace in fig.data) == devices
    for trace in fig.data:
        part = answer.filter(pl.col("_device_type") == trace.name).sort("day")
        assert trace.type == "scatter"
        assert list(trace.x) == part["day"].to_list()
        assert list(trace.y) == part["count"].to_list()
    assert fig.layout.title.text == "page views"


def test_trend_with_two_measures_draws_two_lines(ws: gos.LocalWorkspace) -> None:
    answer = ws.query("last 30d | count, uniq(user_id) as users by week")
    fig = plots.trend(answer)
    assert [trace.name for trace in fig.data] == ["count", "users"]
    assert sum(fig.data[0].y) == answer["count"].sum()


def test_funnel_draws_steps_and_conversion(ws: gos.LocalWorkspace) -> None:
    answer = ws.query('last 30d | funnel "page_view" -> "signup" -> "purchase_completed" within 7d')
    fig = plots.funnel(answer)
    (trace,) = fig.data
    assert trace.type == "funnel"
    assert list(trace.y) == ["1. page_view", "2. signup", "3. purchase_completed"]
    assert list(trace.x) == answer["users"].to_list()
    assert list(trace.customdata) == answer["conversion"].to_list()
    assert trace.x[0] >= trace.x[1] >= trace.x[2] and trace.x[1] > 0


def test_funnel_by_group_draws_one_funnel_per_group(ws: gos.LocalWorkspace) -> None:
    answer = ws.query('last 30d | funnel "page_view" -> "signup" by _device_type')
    fig = plots.funnel(answer)
    assert sorted(t.name for t in fig.data) == sorted(answer["_device_type"].unique().to_list())
    assert all(len(t.x) == 2 for t in fig.data)


def test_retention_draws_the_cohort_grid(ws: gos.LocalWorkspace) -> None:
    answer = ws.query('last 30d | retention "signup" every day periods 3')
    assert answer.height > 0
    fig = plots.retention(answer)
    (trace,) = fig.data
    assert trace.type == "heatmap"
    cohorts = answer["cohort"].n_unique()
    assert len(trace.y) == cohorts and list(trace.x) == ["0", "1", "2", "3"]
    assert [row[0] for row in trace.z] == [100.0] * cohorts  # period 0 is the whole cohort
    users = plots.retention(answer, value="users").data[0]
    first = answer.sort("cohort", "period").row(0, named=True)
    assert users.z[0][0] == first["users"] and f"({first['cohort_users']})" in users.y[0]


def test_bar_and_auto_pick_the_figure_for_each_shape(ws: gos.LocalWorkspace) -> None:
    browsers = ws.query("last 30d | count by _browser")
    fig = plots.bar(browsers)
    assert fig.data[0].type == "bar" and list(fig.data[0].x) == browsers["_browser"].to_list()
    cases = {
        "last 30d | count by _browser": "bar",
        "last 30d | count by day": "scatter",
        'last 30d | funnel "page_view" -> "signup"': "funnel",
        'last 30d | retention "signup" every day periods 2': "heatmap",
    }
    for text, kind in cases.items():
        assert ws.plot(text).data[0].type == kind, text
        assert plots.auto(ws.query(text)).data[0].type == kind, text


def test_shapes_that_do_not_fit_are_refused_with_a_code(ws: gos.LocalWorkspace) -> None:
    with pytest.raises(BadRequest) as no_time:
        plots.trend(ws.query("last 30d | count by _browser"))
    assert no_time.value.code == "plot_shape_mismatch" and "count by day" in no_time.value.message
    with pytest.raises(BadRequest) as not_funnel:
        plots.funnel(ws.query("last 30d | count by _browser"))
    assert not_funnel.value.code == "plot_shape_mismatch"
    with pytest.raises(BadRequest) as sessions:
        plots.auto(ws.query("last 30d | sessions"))
    assert sessions.value.code == "plot_shape_mismatch"
    with pytest.raises(BadRequest) as crowded:
        # one line per visitor: 150 devices (identified users vary with the time of day)
        plots.auto(ws.query("last 30d | count by day, device_id"))
    assert crowded.value.code == "plot_too_many_lines"


def test_figures_serialize_for_the_notebook(ws: gos.LocalWorkspace) -> None:
    fig = ws.plot("last 30d | count by day")
    assert fig.to_plotly_json()["data"][0]["type"] == "scatter"
    assert '"type":"scatter"' in fig.to_json().replace(" ", "")
