"""The notebook handle: a data folder opened in-process, and a server reached over HTTP, answer
the same queries with the same frames, name the lake version they read, and say clearly what
they cannot do."""

from __future__ import annotations

from pathlib import Path

import httpx2
import polars as pl
import pytest
import sqlglot
from polars.testing import assert_frame_equal

import growthos_pipeline as gos
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.orgs import bootstrap
from growthos_pipeline.errors import BadRequest, NotFound, Unauthorized
from growthos_pipeline.ingest.accept import Ingestor
from growthos_pipeline.query.errors import QueryError
from growthos_pipeline.query.run import run
from tests.notebooks.conftest import Served, folder_settings

QUERIES = [
    'event_type = "page_view" | last 30d | count, uniq(user_id) as users by day, _device_type',
    "last 30d | count by _browser",
    'last 30d | funnel "page_view" -> "signup" -> "purchase_completed" within 7d by _device_type',
    'last 30d | retention "signup" every day periods 4',
    "last 30d | sessions | sort session_id | limit 50",
    'event_type = "purchase_completed" | last 30d | select time, user_id, prop.amount as amount'
    " | sort time, user_id",
]


def test_curated_surface_is_exported() -> None:
    missing = [name for name in gos.__all__ if not hasattr(gos, name)]
    assert missing == []
    assert {"open", "connect", "open_demo", "Workspace", "plots", "scan_events"} <= set(gos.__all__)


def test_open_takes_the_only_project_or_one_named(demo_dir: Path) -> None:
    ws = gos.open(demo_dir)
    assert ws.name == "demo" and ws.project_id.startswith("proj_")
    assert gos.open(demo_dir, project="demo").project_id == ws.project_id
    assert gos.open(demo_dir, project=ws.project_id).project_id == ws.project_id


def test_open_names_the_projects_when_it_cannot_choose(demo_dir: Path) -> None:
    settings = folder_settings(demo_dir)
    catalog = Catalog.open(settings)
    other = bootstrap(catalog, settings, org_name="Demo", project_name="shop")["project_id"]
    catalog.dispose()
    with pytest.raises(BadRequest) as err:
        gos.open(demo_dir)
    assert err.value.code == "project_required"
    assert "demo (proj_" in err.value.message and f"shop ({other})" in err.value.message
    with pytest.raises(NotFound) as missing:
        gos.open(demo_dir, project="blog")
    assert missing.value.code == "project_not_found"
    assert gos.open(demo_dir, project="shop").project_id == other


def test_open_a_missing_folder_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(NotFound) as err:
        gos.open(tmp_path / "nowhere")
    assert err.value.code == "data_dir_not_found"
    assert "growthos demo" in err.value.message


def test_open_a_copied_lake_without_catalog(demo_dir: Path, tmp_path: Path) -> None:
    lake_only = tmp_path / "lake-only"
    (lake_only / "lake").mkdir(parents=True)
    (demo_dir / "lake" / "events").rename(lake_only / "lake" / "events")
    ws = gos.open(lake_only)
    assert ws.name is None
    assert ws.query("last 30d | count").item() > 1000


def test_query_answers_what_run_answers_and_names_the_version(demo_dir: Path) -> None:
    ws = gos.open(demo_dir)
    for text in QUERIES:
        frame = ws.query(text)
        expected = run(ws.settings, ws.project_id, text)
        assert_frame_equal(frame, expected.frame)
        assert ws.last is not None and ws.last.text == text
        assert ws.last_version == expected.lake_version is not None
        assert ws.last.shape == expected.compiled.shape
    ws.query("last 30d | count by day")
    assert ws.last is not None and ws.last.buckets == ("day",)


def test_as_of_reproduces_a_number_after_new_events(demo_dir: Path) -> None:
    ws = gos.open(demo_dir)
    before = ws.query('event_type = "page_view" | last 30d | count').item()
    version = ws.last_version
    ingestor = Ingestor(ws.settings)
    ingestor.start()
    try:
        from growthos_pipeline import demo

        demo.load(ingestor, ws.project_id, demo.generate(users=5, days=1, seed=99))
        ingestor.flush_now()
    finally:
        ingestor.stop()
    assert ws.query('event_type = "page_view" | last 30d | count').item() > before
    assert ws.last_version is not None and version is not None and ws.last_version > version
    again = ws.query('event_type = "page_view" | last 30d | count', as_of=version)
    assert again.item() == before and ws.last_version == version


def test_scan_is_the_lazy_twin_of_query(demo_dir: Path) -> None:
    ws = gos.open(demo_dir)
    text = "last 30d | count, uniq(user_id) as users by event_type"
    lazy = ws.scan(text)
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect_schema().names() == ["event_type", "count", "users"]
    assert_frame_equal(lazy.collect(), ws.query(text))
    assert ws.scan(text, as_of=0).collect()["count"].sum() < ws.query(text)["count"].sum()


def test_events_is_the_projects_raw_lake(demo_dir: Path) -> None:
    ws = gos.open(demo_dir)
    events = ws.events()
    assert isinstance(events, pl.LazyFrame)
    frame = events.collect()
    assert frame["project_id"].unique().to_list() == [ws.project_id]
    assert frame["insert_id"].n_unique() == frame.height
    assert (
        ws.query("last 30d | count").item()
        == frame.filter(pl.col("time") >= ws.last.start if ws.last else True).height
    )


@pytest.mark.parametrize("dialect", ["duckdb", "spark", "clickhouse", "trino"])
def test_sql_renders_every_dialect_with_the_project_filter(demo_dir: Path, dialect: str) -> None:
    ws = gos.open(demo_dir)
    text = 'event_type = "purchase_completed" | last 30d | sum(prop.amount) as revenue by day'
    sql = ws.sql(text, dialect=dialect)
    assert f"'{ws.project_id}'" in sql
    sqlglot.parse_one(sql, read=dialect)  # the text is valid in its dialect


def test_a_truncated_answer_warns(demo_dir: Path) -> None:
    ws = gos.open(demo_dir)
    with pytest.warns(gos.TruncatedResultWarning, match="more than 5 rows"):
        frame = ws.query("last 30d | select time, event_type", limit=5)
    assert frame.height == 5 and ws.last is not None and ws.last.has_more


def test_query_errors_carry_code_and_position(demo_dir: Path) -> None:
    ws = gos.open(demo_dir)
    with pytest.raises(QueryError) as err:
        ws.query('event_type = "page_view" | last 7 | count')
    assert err.value.code == "query_syntax_error" and err.value.details[0]["column"] == 33


# ---- the same over HTTP ---------------------------------------------------------------------


def test_remote_answers_the_same_frames_as_local(served: Served) -> None:
    local = gos.open(served.data_dir)
    with gos.connect(served.url, key=served.secret_key) as remote:
        for text in QUERIES:
            assert_frame_equal(remote.query(text), local.query(text))
            assert remote.last is not None and local.last is not None
            assert remote.last.lake_version == local.last.lake_version
            assert remote.last.shape == local.last.shape
            assert remote.last.buckets == local.last.buckets
        assert (
            remote.query("last 30d | count", as_of=0).item()
            <= local.query("last 30d | count").item()
        )
        assert remote.last_version == 0


def test_remote_with_a_query_token_and_a_project_id(served: Served) -> None:
    created = httpx2.post(
        f"{served.url}/v1/projects/{served.project_id}/tokens",
        headers={"X-API-Key": served.secret_key},
        json={"name": "notebook", "scopes": ["query"], "expires_in": "1h"},
    )
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    with gos.connect(served.url, key=token, project=served.project_id) as remote:
        assert (
            remote.query("last 30d | count").item()
            == gos.open(served.data_dir).query("last 30d | count").item()
        )
        assert f"'{served.project_id}'" in remote.sql("last 30d | count", dialect="trino")
    with gos.connect(served.url, key=served.admin_key, project=served.project_id) as admin:
        assert admin.query("last 30d | count").item() > 0


def test_remote_errors_are_the_local_errors(served: Served) -> None:
    with gos.connect(served.url, key=served.secret_key) as remote:
        with pytest.raises(QueryError) as err:
            remote.query('event_type = "page_view" | last 7 | count')
        assert err.value.code == "query_syntax_error"
        assert err.value.details[0]["column"] == 33
        assert "^" in err.value.render()
        with pytest.raises(BadRequest) as lazy:
            remote.scan("last 7d | count")
        assert lazy.value.code == "remote_lazy_unavailable"
        with pytest.raises(BadRequest) as raw:
            remote.events()
        assert raw.value.code == "remote_lake_unavailable"
    with gos.connect(served.url, key="sk_" + "x" * 38) as stranger:
        with pytest.raises(Unauthorized) as denied:
            stranger.query("last 7d | count")
        assert denied.value.status == 401
